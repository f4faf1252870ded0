/* vocab.json's one-pass reader (models/clip_vocab.h) against jansson, the general JSON parser it replaces
 * for CLIP tokenizers: the same keys and ids on escapes, surrogate pairs and whitespace, and the errors. */
#include "test.h"

#include "base/error.h"
#include "models/clip_vocab.h"

#include <jansson.h>
#include <string.h>

/* Parses text with both readers and checks they agree key by key. */
static void check_same(const char *text, int line)
{
    ClipVocab v;
    int rc = clip_vocab_parse(text, strlen(text), 1000, "v.json", &v);
    json_error_t err;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &err);
    CHECK_MSG(rc == 0 && j, "line %d: ours %d (%s), jansson %s", line, rc, mvla_error_message(), j ? "ok" : err.text);
    if (rc || !j) {
        json_decref(j);
        return;
    }
    CHECK_MSG(v.n == (int)json_object_size(j), "line %d: %d keys, jansson %zu", line, v.n, json_object_size(j));
    for (int i = 0; i < v.n; i++) {
        json_t *id = json_object_get(j, v.keys[i]);
        CHECK_MSG(json_is_integer(id) && json_integer_value(id) == v.ids[i], "line %d: key %d (\"%s\") = %d", line, i,
                  v.keys[i], v.ids[i]);
    }
    json_decref(j);
    clip_vocab_free(&v);
}

static void check_error(const char *text, const char *want, int line)
{
    ClipVocab v;
    int rc = clip_vocab_parse(text, strlen(text), 1000, "v.json", &v);
    CHECK_MSG(rc == MVLA_ERR_FORMAT && strstr(mvla_error_message(), want), "line %d: %s: got %d \"%s\", want \"%s\"",
              line, text, rc, mvla_error_message(), want);
    CHECK(v.n == 0 && v.pool == NULL);
}

TEST(clip_vocab_reader_matches_jansson)
{
    check_same("{}", __LINE__);
    check_same(" \r\n\t{ \"a\" : 0 ,\"b</w>\":1\n}\n", __LINE__);
    check_same("{\"\\\"q\\\\\\/\\b\\f\\n\\r\\t\": 7, \"\\u00e9\\u4e2d\": 8, \"\\ud83e\\udd16!\": 9, \"\xc4\xa0x\": 10}", __LINE__);
    check_same("{\"\xf0\x9f\xa4\x96\": 1000, \"z\": 0}", __LINE__);
    check_error("{\"a\": 1,\n \"b\": }", "v.json:2:7: invalid JSON", __LINE__);
    check_error("[1, 2]", "expected a JSON object", __LINE__);
    check_error("{\"a\": \"1\"}", "token \"a\": expected an integer id", __LINE__);
    check_error("{\"a\": -3}", "token \"a\": expected an integer id", __LINE__);
    check_error("{\"a\": 1.5}", "token \"a\": expected an integer id", __LINE__);
    check_error("{\"a\": 1001}", "token \"a\": expected an integer id in [0, 1000]", __LINE__);
    check_error("{\"a\": 99999999999999999999}", "token \"a\": expected an integer id", __LINE__);
    check_error("{\"a\": 1", "expected ',' or '}'", __LINE__);
    check_error("{\"a\": 1} x", "end of file expected", __LINE__);
    check_error("{\"a\x01\": 1}", "control character", __LINE__);
    check_error("{\"\\ud83e\": 1}", "lone surrogate", __LINE__);
    check_error("{\"\\udd16\": 1}", "lone surrogate", __LINE__);
    check_error("{\"\\u0000\": 1}", "\\u0000", __LINE__);
    check_error("{\"\\x\": 1}", "invalid escape", __LINE__);
    check_error("{\"\xc0\xaf\": 1}", "invalid UTF-8", __LINE__);
    check_error("{\"\xed\xa0\x80\": 1}", "invalid UTF-8", __LINE__);
    check_error("{\"abc", "unterminated string", __LINE__);
    check_error("", "empty file", __LINE__);
    check_error("{a: 1}", "expected a string key", __LINE__);
}
