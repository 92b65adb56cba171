/* libFuzzer target: an upstream's response through the relay and the
 * cache, as forward.c feeds them. The key and the client are taken from the
 * input's own question so that answers reach past the RFC 5452 check. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "relay.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < WIRE_HEADER_SIZE || size > 65535)
        return 0;
    struct cache_key key = {0};
    size_t at = WIRE_HEADER_SIZE, name_len = 0;
    uint8_t name[WIRE_NAME_MAX];
    if (wire_name_parse(data, size, &at, name, &name_len) < 0 || size - at < 4)
        return 0;
    memcpy(key.qname, name, name_len);
    wire_name_lower(key.qname, name_len);
    key.qname_len = (uint8_t)name_len;
    key.qtype = wire_get16(data + at);
    key.qclass = wire_get16(data + at + 2);

    uint16_t id = wire_get16(data);
    if (relay_response_check(data, size, id, &key) != RELAY_ACCEPT)
        return 0;

    static struct cache *cache;
    if (!cache)
        cache = cache_new(64, 300);
    cache_store(cache, &key, data, size, 1000);

    struct relay_client client = {.id = (uint16_t)(id ^ 0x5a5a),
                                  .flags = WIRE_FLAG_RD,
                                  .has_edns = (data[2] & 1) != 0,
                                  .edns_do = (data[2] & 2) != 0,
                                  .edns_payload = 1232,
                                  .question_len = (uint16_t)(name_len + 4)};
    memcpy(client.question, name, name_len);
    memcpy(client.question + name_len, data + at, 4);

    static uint8_t buf[65535 + RELAY_OPT_SIZE];
    size_t len = cache_lookup(cache, &key, 3000, buf, sizeof buf);
    if (len == 0) {
        memcpy(buf, data, size);
        len = size;
    }
    struct relay_result result;
    relay_answer(buf, len, sizeof buf, &client, (data[3] & 1) ? 512 : 65535, 1232, &result);
    return 0;
}
