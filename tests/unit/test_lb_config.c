/* Tests of the load balancer's configuration (src/lb/config.c): the complete example of
 * README.md loads with every value where the README says, errors name file and line, flags make
 * a frontend and a backend, global flags override a file, validation catches dangling names,
 * and runtime server changes. Run from the repository root (make unit does). */
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

#include "lb/config.h"

static char err[512];

/* Writes text to a temporary file; returns its path (static buffer). */
static const char *write_temp(const char *text) {
    static char path[64];
    snprintf(path, sizeof path, "/tmp/polis-lb-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

/* The code block that follows the "lb-example" marker in README.md. */
static char *readme_example(void) {
    FILE *f = fopen("README.md", "r");
    assert_non_null(f);
    static char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *marker = strstr(text, "lb-example");
    assert_non_null(marker);
    char *start = strstr(marker, "```\n");
    assert_non_null(start);
    start += 4;
    char *end = strstr(start, "```");
    assert_non_null(end);
    *end = '\0';
    return start;
}

static void test_readme_example_loads_with_its_values(void **state) {
    (void)state;
    lb_config_t *cfg = lb_config_new();
    const char *path = write_temp(readme_example());
    int rc = lb_config_load(cfg, path, err, sizeof err);
    unlink(path);
    if (rc != 0) {
        fail_msg("%s", err);
    }
    assert_int_equal(lb_config_validate(cfg, err, sizeof err), 0);
    assert_int_equal(cfg->threads, 2);
    assert_true(cfg->has_admin);
    assert_int_equal(cfg->grace_ms, 10000);
    assert_int_equal(cfg->frontend_count, 2);
    lb_frontend_conf_t *web = &cfg->frontends[0];
    assert_string_equal(web->name, "web");
    assert_string_equal(web->listen, "0.0.0.0:8080");
    assert_int_equal(web->mode, LB_MODE_HTTP);
    assert_string_equal(web->backend, "shop");
    assert_int_equal(web->tunnel_timeout_ms, 3600000);
    assert_int_equal(cfg->frontends[1].mode, LB_MODE_TCP);
    lb_backend_conf_t *shop = lb_config_backend(cfg, "shop");
    assert_non_null(shop);
    assert_string_equal(shop->balance, "weighted");
    assert_int_equal(shop->server_count, 3);
    assert_int_equal(shop->servers[0].weight, 3);
    assert_int_equal(shop->servers[1].weight, 1);
    assert_int_equal(shop->health.kind, LB_CHECK_HTTP);
    assert_string_equal(shop->health.path, "/healthz");
    assert_int_equal(shop->health.interval_ms, 2000);
    assert_int_equal(shop->health.fall, 3);
    assert_int_equal(shop->connect_timeout_ms, 2000);
    assert_int_equal(lb_config_backend(cfg, "nodes")->health.kind, LB_CHECK_TCP);
    lb_config_free(cfg);
}

static void test_errors_name_file_and_line(void **state) {
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"frontend a\n  listen 127.0.0.1:1\n  mode udp\n", ":3: mode"},
        {"threads 0\n", ":1: threads"},
        {"backend b\n  server x 127.0.0.1:1 weight=999\n", ":2: server"},
        {"backend b\n  timeout client 1s\n", "belongs in a frontend"},
        {"frontend a\n  timeout connect 1s\n", "belongs in a backend"},
        {"backend b\n  balance fastest\n", "unknown algorithm"},
        {"backend b\n  check http /x interval=0\n", "bad option"},
        {"bogus 1\n", "unknown global keyword"},
        {"backend b\n  server x nowhere\n", "bad address"},
        {"backend b\nbackend b\n", "defined twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lb_config_t *cfg = lb_config_new();
        const char *path = write_temp(cases[i].text);
        int rc = lb_config_load(cfg, path, err, sizeof err);
        unlink(path);
        assert_int_equal(rc, -EINVAL);
        if (!strstr(err, cases[i].want)) {
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].want);
        }
        lb_config_free(cfg);
    }
}

static void test_validation_catches_dangling_names(void **state) {
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"frontend a\n  use-backend b\nbackend b\n", "no listen"},
        {"frontend a\n  listen :1\n  use-backend c\nbackend b\n", "no backend named"},
        {"frontend a\n  listen :1\nbackend b\nbackend c\n", "say which backend"},
        {"frontend a\n  listen :1\nfrontend b\n  listen 127.0.0.1:1\nbackend c\n", "same address"},
        {"backend c\n", "nothing to balance"},
        {"frontend a\n  listen :1\nbackend b\n  check tcp interval=1s timeout=2s\n", "longer"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lb_config_t *cfg = lb_config_new();
        const char *path = write_temp(cases[i].text);
        assert_int_equal(lb_config_load(cfg, path, err, sizeof err), 0);
        unlink(path);
        assert_int_equal(lb_config_validate(cfg, err, sizeof err), -EINVAL);
        if (!strstr(err, cases[i].want)) {
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].want);
        }
        lb_config_free(cfg);
    }
}

static void test_flags_make_a_frontend_and_a_backend(void **state) {
    (void)state;
    char *argv[] = {"lb", "--listen", "127.0.0.1:8080", "--mode=tcp", "--balance", "leastconn",
                    "--backend", "127.0.0.1:9001,weight=3", "--backend",
                    "127.0.0.1:9002,name=spare", "--timeout-connect", "250ms", "--check",
                    "tcp interval=1s fall=2", "--threads", "3", NULL};
    lb_config_t *cfg = lb_config_new();
    const char *path = NULL;
    assert_int_equal(lb_config_flags(cfg, 16, argv, &path, err, sizeof err), 0);
    assert_int_equal(lb_config_validate(cfg, err, sizeof err), 0);
    assert_null(path);
    assert_int_equal(cfg->threads, 3);
    assert_int_equal(cfg->frontend_count, 1);
    assert_int_equal(cfg->frontends[0].mode, LB_MODE_TCP);
    assert_string_equal(cfg->frontends[0].backend, "main");
    lb_backend_conf_t *b = lb_config_backend(cfg, "main");
    assert_string_equal(b->balance, "leastconn");
    assert_int_equal(b->server_count, 2);
    assert_string_equal(b->servers[0].name, "s1");
    assert_int_equal(b->servers[0].weight, 3);
    assert_string_equal(b->servers[1].name, "spare");
    assert_int_equal(b->connect_timeout_ms, 250);
    assert_int_equal(b->health.kind, LB_CHECK_TCP);
    assert_int_equal(b->health.fall, 2);
    lb_config_free(cfg);
}

static void test_global_flags_override_a_file_and_others_are_refused(void **state) {
    (void)state;
    const char *path = write_temp("threads 2\nfrontend a\n  listen :1\nbackend b\n");
    char *argv[] = {"lb", "--threads", "4", "--config", (char *)path, NULL};
    lb_config_t *cfg = lb_config_new();
    const char *got = NULL;
    assert_int_equal(lb_config_flags(cfg, 5, argv, &got, err, sizeof err), 0);
    assert_string_equal(got, path);
    assert_int_equal(cfg->threads, 4);
    lb_config_free(cfg);
    char *bad[] = {"lb", "--config", (char *)path, "--listen", ":2", NULL};
    cfg = lb_config_new();
    assert_int_equal(lb_config_flags(cfg, 5, bad, &got, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "cannot be combined"));
    lb_config_free(cfg);
    unlink(path);
    char *unknown[] = {"lb", "--frobnicate", NULL};
    cfg = lb_config_new();
    assert_int_equal(lb_config_flags(cfg, 2, unknown, &got, err, sizeof err), -EINVAL);
    lb_config_free(cfg);
}

static void test_runtime_server_changes(void **state) {
    (void)state;
    char *argv[] = {"lb", "--listen", ":8080", "--backend", "127.0.0.1:9001", NULL};
    lb_config_t *cfg = lb_config_new();
    const char *path;
    assert_int_equal(lb_config_flags(cfg, 5, argv, &path, err, sizeof err), 0);
    assert_int_equal(lb_config_server_add(cfg, "main", "new", "127.0.0.1:9005", 2, err,
                                          sizeof err),
                     0);
    assert_int_equal(lb_config_server_add(cfg, "main", "new", "127.0.0.1:9006", 1, err,
                                          sizeof err),
                     -EEXIST);
    assert_int_equal(lb_config_server_add(cfg, "nope", "x", "127.0.0.1:1", 1, err, sizeof err),
                     -ENOENT);
    lb_config_t *copy = lb_config_clone(cfg);
    assert_int_equal(lb_config_server_weight(copy, "main", "new", 7), 0);
    assert_int_equal(lb_config_server_remove(copy, "main", "s1"), 0);
    assert_int_equal(lb_config_server_remove(copy, "main", "s1"), -ENOENT);
    lb_backend_conf_t *b = lb_config_backend(copy, "main");
    assert_int_equal(b->server_count, 1);
    assert_int_equal(b->servers[0].weight, 7);
    assert_int_equal(lb_config_backend(cfg, "main")->server_count, 2); /* the copy is deep */
    lb_config_free(copy);
    lb_config_free(cfg);
}

static void test_durations(void **state) {
    (void)state;
    uint32_t ms;
    assert_int_equal(lb_duration_parse("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(lb_duration_parse("1.5s", &ms), 0);
    assert_int_equal(ms, 1500);
    assert_int_equal(lb_duration_parse("2m", &ms), 0);
    assert_int_equal(ms, 120000);
    assert_int_equal(lb_duration_parse("40", &ms), 0);
    assert_int_equal(ms, 40);
    assert_int_equal(lb_duration_parse("3d", &ms), -EINVAL);
    assert_int_equal(lb_duration_parse("-1s", &ms), -EINVAL);
    assert_int_equal(lb_duration_parse("25h", &ms), -EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readme_example_loads_with_its_values),
        cmocka_unit_test(test_errors_name_file_and_line),
        cmocka_unit_test(test_validation_catches_dangling_names),
        cmocka_unit_test(test_flags_make_a_frontend_and_a_backend),
        cmocka_unit_test(test_global_flags_override_a_file_and_others_are_refused),
        cmocka_unit_test(test_runtime_server_changes),
        cmocka_unit_test(test_durations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
