/* command_table: the keyspace's command table (sorted by name) and its lookup.
 * Arity, flags, key positions, group and since are Redis 7.0's (COMMAND INFO / DOCS), so
 * clients and redis-cli see the same metadata; polis' own commands say "polis". */
#include <assert.h>
#include <string.h>

#include "kv/db.h"

command_fn cmd_append, cmd_copy, cmd_dbsize, cmd_decr, cmd_decrby, cmd_del, cmd_exists, cmd_expire, cmd_expireat, cmd_expiretime, cmd_flushall, cmd_flushdb, cmd_get, cmd_getdel, cmd_getex, cmd_getrange, cmd_getset, cmd_hdel, cmd_hexists, cmd_hget, cmd_hgetall, cmd_hincrby, cmd_hincrbyfloat, cmd_hkeys, cmd_hlen, cmd_hmget, cmd_hmset, cmd_hrandfield, cmd_hscan, cmd_hset, cmd_hsetnx, cmd_hstrlen, cmd_hvals, cmd_incr, cmd_incrby, cmd_incrbyfloat, cmd_keys, cmd_mget, cmd_mset, cmd_msetnx, cmd_persist, cmd_pexpire, cmd_pexpireat, cmd_pexpiretime, cmd_polis_cas, cmd_polis_clock, cmd_polis_delexpired, cmd_polis_version, cmd_psetex, cmd_pttl, cmd_randomkey, cmd_rename, cmd_renamenx, cmd_scan, cmd_set, cmd_setex, cmd_setnx, cmd_setrange, cmd_strlen, cmd_touch, cmd_ttl, cmd_type, cmd_unlink;

const command_t kv_command_table[] = {
    {"append", cmd_append, 3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, "string", "2.0.0",
     "Append a value to a key"},
    {"copy", cmd_copy, -3, CMD_WRITE | CMD_DENYOOM, 1, 2, 1, "generic", "6.2.0",
     "Copy a key"},
    {"dbsize", cmd_dbsize, 1, CMD_READONLY | CMD_FAST, 0, 0, 0, "server", "1.0.0",
     "Return the number of keys in the selected database"},
    {"decr", cmd_decr, 2, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, "string", "1.0.0",
     "Decrement the integer value of a key by one"},
    {"decrby", cmd_decrby, 3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, "string", "1.0.0",
     "Decrement the integer value of a key by the given number"},
    {"del", cmd_del, -2, CMD_WRITE, 1, -1, 1, "generic", "1.0.0",
     "Delete a key"},
    {"exists", cmd_exists, -2, CMD_READONLY | CMD_FAST, 1, -1, 1, "generic", "1.0.0",
     "Determine if a key exists"},
    {"expire", cmd_expire, -3, CMD_WRITE | CMD_FAST, 1, 1, 1, "generic", "1.0.0",
     "Set a key's time to live in seconds"},
    {"expireat", cmd_expireat, -3, CMD_WRITE | CMD_FAST, 1, 1, 1, "generic", "1.2.0",
     "Set the expiration for a key as a UNIX timestamp"},
    {"expiretime", cmd_expiretime, 2, CMD_READONLY | CMD_FAST, 1, 1, 1, "generic", "7.0.0",
     "Get the expiration Unix timestamp for a key"},
    {"flushall", cmd_flushall, -1, CMD_WRITE, 0, 0, 0, "server", "1.0.0",
     "Remove all keys from all databases"},
    {"flushdb", cmd_flushdb, -1, CMD_WRITE, 0, 0, 0, "server", "1.0.0",
     "Remove all keys from the current database"},
    {"get", cmd_get, 2, CMD_READONLY | CMD_FAST, 1, 1, 1, "string", "1.0.0",
     "Get the value of a key"},
    {"getdel", cmd_getdel, 2, CMD_WRITE | CMD_FAST, 1, 1, 1, "string", "6.2.0",
     "Get the value of a key and delete the key"},
    {"getex", cmd_getex, -2, CMD_WRITE | CMD_FAST, 1, 1, 1, "string", "6.2.0",
     "Get the value of a key and optionally set its expiration"},
    {"getrange", cmd_getrange, 4, CMD_READONLY, 1, 1, 1, "string", "2.4.0",
     "Get a substring of the string stored at a key"},
    {"getset", cmd_getset, 3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, "string", "1.0.0",
     "Set the string value of a key and return its old value"},
    {"hdel", cmd_hdel, -3, CMD_WRITE | CMD_FAST, 1, 1, 1, "hash", "2.0.0",
     "Delete one or more hash fields"},
    {"hexists", cmd_hexists, 3, CMD_READONLY | CMD_FAST, 1, 1, 1, "hash", "2.0.0",
     "Determine if a hash field exists"},
    {"hget", cmd_hget, 3, CMD_READONLY | CMD_FAST, 1, 1, 1, "hash", "2.0.0",
     "Get the value of a hash field"},
    {"hgetall", cmd_hgetall, 2, CMD_READONLY, 1, 1, 1, "hash", "2.0.0",
     "Get all the fields and values in a hash"},
    {"hincrby", cmd_hincrby, 4, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, "hash", "2.0.0",
     "Increment the integer value of a hash field by the given number"},
    {"hincrbyfloat", cmd_hincrbyfloat, 4, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, "hash", "2.6.0",
     "Increment the float value of a hash field by the given amount"},
    {"hkeys", cmd_hkeys, 2, CMD_READONLY, 1, 1, 1, "hash", "2.0.0",
     "Get all the fields in a hash"},
    {"hlen", cmd_hlen, 2, CMD_READONLY | CMD_FAST, 1, 1, 1, "hash", "2.0.0",
     "Get the number of fields in a hash"},
    {"hmget", cmd_hmget, -3, CMD_READONLY | CMD_FAST, 1, 1, 1, "hash", "2.0.0",
     "Get the values of all the given hash fields"},
    {"hmset", cmd_hmset, -4, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, "hash", "2.0.0",
     "Set multiple hash fields to multiple values"},
    {"hrandfield", cmd_hrandfield, -2, CMD_READONLY | CMD_RANDOM, 1, 1, 1, "hash", "6.2.0",
     "Get one or multiple random fields from a hash"},
    {"hscan", cmd_hscan, -3, CMD_READONLY | CMD_RANDOM, 1, 1, 1, "hash", "2.8.0",
     "Incrementally iterate hash fields and associated values"},
    {"hset", cmd_hset, -4, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, "hash", "2.0.0",
     "Set the string value of a hash field"},
    {"hsetnx", cmd_hsetnx, 4, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, "hash", "2.0.0",
     "Set the value of a hash field, only if the field does not exist"},
    {"hstrlen", cmd_hstrlen, 3, CMD_READONLY | CMD_FAST, 1, 1, 1, "hash", "3.2.0",
     "Get the length of the value of a hash field"},
    {"hvals", cmd_hvals, 2, CMD_READONLY, 1, 1, 1, "hash", "2.0.0",
     "Get all the values in a hash"},
    {"incr", cmd_incr, 2, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, "string", "1.0.0",
     "Increment the integer value of a key by one"},
    {"incrby", cmd_incrby, 3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, "string", "1.0.0",
     "Increment the integer value of a key by the given amount"},
    {"incrbyfloat", cmd_incrbyfloat, 3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, "string", "2.6.0",
     "Increment the float value of a key by the given amount"},
    {"keys", cmd_keys, 2, CMD_READONLY, 0, 0, 0, "generic", "1.0.0",
     "Find all keys matching the given pattern"},
    {"mget", cmd_mget, -2, CMD_READONLY | CMD_FAST, 1, -1, 1, "string", "1.0.0",
     "Get the values of all the given keys"},
    {"mset", cmd_mset, -3, CMD_WRITE | CMD_DENYOOM, 1, -1, 2, "string", "1.0.1",
     "Set multiple keys to multiple values"},
    {"msetnx", cmd_msetnx, -3, CMD_WRITE | CMD_DENYOOM, 1, -1, 2, "string", "1.0.1",
     "Set multiple keys to multiple values, only if none of the keys exist"},
    {"persist", cmd_persist, 2, CMD_WRITE | CMD_FAST, 1, 1, 1, "generic", "2.2.0",
     "Remove the expiration from a key"},
    {"pexpire", cmd_pexpire, -3, CMD_WRITE | CMD_FAST, 1, 1, 1, "generic", "2.6.0",
     "Set a key's time to live in milliseconds"},
    {"pexpireat", cmd_pexpireat, -3, CMD_WRITE | CMD_FAST, 1, 1, 1, "generic", "2.6.0",
     "Set the expiration for a key as a UNIX timestamp specified in milliseconds"},
    {"pexpiretime", cmd_pexpiretime, 2, CMD_READONLY | CMD_FAST, 1, 1, 1, "generic", "7.0.0",
     "Get the expiration Unix timestamp for a key in milliseconds"},
    {"polis.cas", cmd_polis_cas, -4, CMD_WRITE | CMD_DENYOOM, 1, 1, 1, "string", "polis",
     "Set a string only if the key's version equals the one given"},
    {"polis.clock", cmd_polis_clock, -1, CMD_WRITE | CMD_FAST, 0, 0, 0, "generic", "polis",
     "Merge a stamp into the node's clock and get a larger one (Lamport's receive rule)"},
    {"polis.delexpired", cmd_polis_delexpired, -2, CMD_WRITE | CMD_FAST, 1, -1, 1, "generic", "polis",
     "Remove the given keys that have expired (what the node logs for active expiry)"},
    {"polis.version", cmd_polis_version, 2, CMD_READONLY | CMD_FAST, 1, 1, 1, "generic", "polis",
     "Get a key's version: the HLC stamp of its last write (0 if absent)"},
    {"psetex", cmd_psetex, 4, CMD_WRITE | CMD_DENYOOM, 1, 1, 1, "string", "2.6.0",
     "Set the value and expiration in milliseconds of a key"},
    {"pttl", cmd_pttl, 2, CMD_READONLY | CMD_FAST, 1, 1, 1, "generic", "2.6.0",
     "Get the time to live for a key in milliseconds"},
    {"randomkey", cmd_randomkey, 1, CMD_READONLY | CMD_RANDOM, 0, 0, 0, "generic", "1.0.0",
     "Return a random key from the keyspace"},
    {"rename", cmd_rename, 3, CMD_WRITE, 1, 2, 1, "generic", "1.0.0",
     "Rename a key"},
    {"renamenx", cmd_renamenx, 3, CMD_WRITE | CMD_FAST, 1, 2, 1, "generic", "1.0.0",
     "Rename a key, only if the new key does not exist"},
    {"scan", cmd_scan, -2, CMD_READONLY | CMD_RANDOM, 0, 0, 0, "generic", "2.8.0",
     "Incrementally iterate the keys space"},
    {"set", cmd_set, -3, CMD_WRITE | CMD_DENYOOM, 1, 1, 1, "string", "1.0.0",
     "Set the string value of a key"},
    {"setex", cmd_setex, 4, CMD_WRITE | CMD_DENYOOM, 1, 1, 1, "string", "2.0.0",
     "Set the value and expiration of a key"},
    {"setnx", cmd_setnx, 3, CMD_WRITE | CMD_DENYOOM | CMD_FAST, 1, 1, 1, "string", "1.0.0",
     "Set the value of a key, only if the key does not exist"},
    {"setrange", cmd_setrange, 4, CMD_WRITE | CMD_DENYOOM, 1, 1, 1, "string", "2.2.0",
     "Overwrite part of a string at key starting at the specified offset"},
    {"strlen", cmd_strlen, 2, CMD_READONLY | CMD_FAST, 1, 1, 1, "string", "2.2.0",
     "Get the length of the value stored in a key"},
    {"touch", cmd_touch, -2, CMD_READONLY | CMD_FAST, 1, -1, 1, "generic", "3.2.1",
     "Alters the last access time of a key(s). Returns the number of existing keys specified."},
    {"ttl", cmd_ttl, 2, CMD_READONLY | CMD_FAST, 1, 1, 1, "generic", "1.0.0",
     "Get the time to live for a key in seconds"},
    {"type", cmd_type, 2, CMD_READONLY | CMD_FAST, 1, 1, 1, "generic", "1.0.0",
     "Determine the type stored at key"},
    {"unlink", cmd_unlink, -2, CMD_WRITE | CMD_FAST, 1, -1, 1, "generic", "4.0.0",
     "Delete a key (freed at once in polis: no background thread)"},
};

const size_t kv_command_count = sizeof kv_command_table / sizeof kv_command_table[0];

/* Longest command name in the table, plus room. */
#define COMMAND_NAME_MAX 32

const command_t *kv_command_lookup(const char *name, size_t len) {
    assert(name || len == 0);
    char lowered[COMMAND_NAME_MAX];
    if (len == 0 || len >= sizeof lowered) {
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        lowered[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    lowered[len] = '\0';
    size_t lo = 0, hi = kv_command_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(lowered, kv_command_table[mid].name);
        if (cmp == 0) {
            return &kv_command_table[mid];
        }
        if (cmp < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}
