/* Tests of the data node's option table (src/server/config.c): defaults, memory units, flags
 * over the config file, and the error texts CONFIG SET and start-up report. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/log.h"
#include "kv/keyspace.h"
#include "server/config.h"
#include "storage/persist.h"

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char *value_of(const server_config_t *cfg, const char *name, buf_t *b) {
    buf_clear(b);
    const config_option_t *o = config_find(name, strlen(name));
    assert_non_null(o);
    config_format(cfg, o, b);
    buf_append(b, "", 1);
    return b->data;
}

static void defaults_match_the_documented_ones(void **state) {
    (void)state;
    server_config_t cfg;
    config_init(&cfg);
    assert_int_equal(cfg.port, 7379);
    assert_string_equal(cfg.bind, "127.0.0.1");
    assert_int_equal(cfg.persistence, 1);
    assert_int_equal(cfg.fsync, FSYNC_ALWAYS);
    assert_int_equal(cfg.maxmemory, 0);
    assert_int_equal(cfg.maxmemory_policy, EVICT_NOEVICTION);
    assert_int_equal(cfg.maxclients, 10000);
    assert_int_equal(cfg.loglevel, LOG_NOTICE);
    assert_int_equal(cfg.proto_max_bulk_len, 512LL * 1024 * 1024);
    assert_int_equal(cfg.client_query_buffer_limit, 1024LL * 1024 * 1024);
    buf_t b;
    buf_init(&b);
    assert_string_equal(value_of(&cfg, "appendonly", &b), "yes");
    assert_string_equal(value_of(&cfg, "save", &b), "");
    assert_string_equal(value_of(&cfg, "MAXMEMORY-POLICY", &b), "noeviction");
    buf_free(&b);
}

static void memory_values_take_redis_units(void **state) {
    (void)state;
    long long v;
    assert_true(config_parse_memory("0", &v) && v == 0);
    assert_true(config_parse_memory("100", &v) && v == 100);
    assert_true(config_parse_memory("1k", &v) && v == 1000);
    assert_true(config_parse_memory("1KB", &v) && v == 1024);
    assert_true(config_parse_memory("3mb", &v) && v == 3 * 1024 * 1024);
    assert_true(config_parse_memory("2g", &v) && v == 2000000000LL);
    assert_true(config_parse_memory("2gb", &v) && v == 2LL * 1024 * 1024 * 1024);
    assert_false(config_parse_memory("", &v));
    assert_false(config_parse_memory("-1", &v));
    assert_false(config_parse_memory("10.5mb", &v));
    assert_false(config_parse_memory("1tb", &v));
    assert_false(config_parse_memory("99999999999gb", &v));
}

static void set_errors_use_redis_wording(void **state) {
    (void)state;
    server_config_t cfg;
    config_init(&cfg);
    char err[CONFIG_ERR_MAX];
    const config_option_t *o = config_find("maxmemory", 9);
    assert_int_equal(config_set_option(&cfg, o, "abc", err, sizeof err), -EINVAL);
    assert_string_equal(err, "argument must be a memory value");
    o = config_find("maxclients", 10);
    assert_int_equal(config_set_option(&cfg, o, "x", err, sizeof err), -EINVAL);
    assert_string_equal(err, "argument couldn't be parsed into an integer");
    assert_int_equal(config_set_option(&cfg, o, "0", err, sizeof err), -EINVAL);
    assert_string_equal(err, "argument must be between 1 and 4294967295 inclusive");
    o = config_find("maxmemory-policy", 16);
    assert_int_equal(config_set_option(&cfg, o, "lfu", err, sizeof err), -EINVAL);
    assert_string_equal(err, "argument(s) must be one of the following: noeviction, allkeys-lru, "
                             "volatile-lru, allkeys-random, volatile-ttl");
    assert_int_equal(config_set_option(&cfg, o, "ALLKEYS-LRU", err, sizeof err), 0);
    assert_int_equal(cfg.maxmemory_policy, EVICT_ALLKEYS_LRU);
    o = config_find("proto-max-bulk-len", 18);
    assert_int_equal(config_set_option(&cfg, o, "10", err, sizeof err), -EINVAL);
    assert_null(config_find("nosuch", 6));
}

static void flags_override_the_config_file(void **state) {
    (void)state;
    char path[] = "/tmp/polis-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "# a comment\n\n  port 7000\nmaxmemory 10mb\nbind \"::1\"\n"
                     "dir 'with space'\nmaxmemory-policy allkeys-lru\r\n");
    server_config_t cfg;
    config_init(&cfg);
    char err[CONFIG_ERR_MAX] = "";
    char *argv[] = {"server", "--port", "7100", "--config", path, "--fsync=everysec", NULL};
    assert_int_equal(config_parse_args(&cfg, 6, argv, err, sizeof err), 0);
    assert_int_equal(cfg.port, 7100);
    assert_int_equal(cfg.maxmemory, 10LL * 1024 * 1024);
    assert_string_equal(cfg.bind, "::1");
    assert_string_equal(cfg.dir, "with space");
    assert_int_equal(cfg.maxmemory_policy, EVICT_ALLKEYS_LRU);
    assert_int_equal(cfg.fsync, FSYNC_EVERYSEC);
    unlink(path);
}

static void config_file_errors_name_file_and_line(void **state) {
    (void)state;
    char path[] = "/tmp/polis-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    server_config_t cfg;
    config_init(&cfg);
    char err[CONFIG_ERR_MAX], want[CONFIG_ERR_MAX + 64];
    write_file(path, "port 7000\nfsync sometimes\n");
    assert_int_equal(config_load_file(&cfg, path, err, sizeof err), -EINVAL);
    snprintf(want, sizeof want,
             "%s:2: option 'fsync': argument(s) must be one of the following: always, "
             "everysec, no",
             path);
    assert_string_equal(err, want);
    write_file(path, "colour blue\n");
    assert_int_equal(config_load_file(&cfg, path, err, sizeof err), -EINVAL);
    snprintf(want, sizeof want, "%s:1: unknown option 'colour'", path);
    assert_string_equal(err, want);
    write_file(path, "port\n");
    assert_int_equal(config_load_file(&cfg, path, err, sizeof err), -EINVAL);
    write_file(path, "dir \"open\n");
    assert_int_equal(config_load_file(&cfg, path, err, sizeof err), -EINVAL);
    snprintf(want, sizeof want, "%s:1: unbalanced quotes", path);
    assert_string_equal(err, want);
    unlink(path);
    assert_true(config_load_file(&cfg, path, err, sizeof err) < 0);
}

static void bad_flags_are_reported(void **state) {
    (void)state;
    server_config_t cfg;
    config_init(&cfg);
    char err[CONFIG_ERR_MAX];
    char *a1[] = {"server", "--port", NULL};
    assert_int_equal(config_parse_args(&cfg, 2, a1, err, sizeof err), -EINVAL);
    assert_string_equal(err, "--port needs a value");
    char *a2[] = {"server", "7000", NULL};
    assert_int_equal(config_parse_args(&cfg, 2, a2, err, sizeof err), -EINVAL);
    char *a3[] = {"server", "--port", "70000", NULL};
    assert_int_equal(config_parse_args(&cfg, 3, a3, err, sizeof err), -EINVAL);
    assert_string_equal(err, "option 'port': argument must be between 0 and 65535 inclusive");
    char *a4[] = {"server", "--appendonly", "no", NULL};
    assert_int_equal(config_parse_args(&cfg, 3, a4, err, sizeof err), -EINVAL);
    assert_string_equal(err, "unknown option 'appendonly'");
    char *a5[] = {"server", "--persistence", "off", "--maxclients", "5", NULL};
    assert_int_equal(config_parse_args(&cfg, 5, a5, err, sizeof err), 0);
    assert_int_equal(cfg.persistence, 0);
    assert_int_equal(cfg.maxclients, 5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_match_the_documented_ones),
        cmocka_unit_test(memory_values_take_redis_units),
        cmocka_unit_test(set_errors_use_redis_wording),
        cmocka_unit_test(flags_override_the_config_file),
        cmocka_unit_test(config_file_errors_name_file_and_line),
        cmocka_unit_test(bad_flags_are_reported),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
