/* CLIP tokenizer: every golden case of ../shared/golden/clip/tokenizer_cases.json (written by OpenAI's
 * own SimpleTokenizer / clip.tokenize), lower-casing and whitespace rules, truncation, invalid
 * UTF-8, and clear errors for malformed vocab.json / merges.txt. */
#include "base/error.h"
#include "models/clip_tokenizer.h"
#include "golden.h"
#include "test.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* golden/clip, or NULL after failing the test (tests/golden.h). */
static const char *golden_clip_dir(char *buf, size_t n)
{
    const char *root = golden_dir();
    if (!root) return NULL;
    snprintf(buf, n, "%s/clip", root);
    return buf;
}

static ClipTokenizer *load_golden_tokenizer(void)
{
    char dir[1024];
    if (!golden_clip_dir(dir, sizeof dir)) return NULL;
    ClipTokenizer *t = NULL;
    if (clip_tokenizer_load(&t, dir) != 0) {
        test_fail(__FILE__, __LINE__, "loading the golden tokenizer: %s", mvla_error_message());
        return NULL;
    }
    return t;
}

static int ids_equal_json(const int *ids, int n, const json_t *arr)
{
    if (!json_is_array(arr) || (int)json_array_size(arr) != n) return 0;
    for (int i = 0; i < n; i++)
        if (json_integer_value(json_array_get(arr, (size_t)i)) != ids[i]) return 0;
    return 1;
}

TEST(clip_tokenizer_golden_cases)
{
    ClipTokenizer *t = load_golden_tokenizer();
    REQUIRE(t);
    CHECK(clip_vocab_size(t) == 49408);
    CHECK(clip_merge_count(t) == 48894);
    CHECK(clip_sot_id(t) == 49406 && clip_eot_id(t) == 49407);
    char path[1100], dir[1024];
    snprintf(path, sizeof path, "%s/tokenizer_cases.json", golden_clip_dir(dir, sizeof dir));
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    REQUIRE(root);
    json_t *cases = json_object_get(root, "cases");
    REQUIRE(json_is_array(cases) && json_array_size(cases) >= 40);
    int ctx = (int)json_integer_value(json_object_get(root, "context_length"));
    REQUIRE(ctx == CLIP_CONTEXT_LENGTH);
    size_t i;
    json_t *c;
    int n_checked = 0;
    json_array_foreach(cases, i, c) {
        const char *text = json_string_value(json_object_get(c, "text"));
        json_t *gold = json_object_get(c, "ids"), *gold77 = json_object_get(c, "ids_77");
        REQUIRE(text && json_is_array(gold) && json_array_size(gold) >= 2);
        /* clip_encode = ids without the SOT/EOT around them */
        int *ids = NULL, n = 0;
        REQUIRE(clip_encode(t, text, &ids, &n) == 0);
        int ok = n == (int)json_array_size(gold) - 2;
        for (int k = 0; ok && k < n; k++) ok = ids[k] == json_integer_value(json_array_get(gold, (size_t)k + 1));
        CHECK_MSG(ok, "case %zu \"%s\": encode gives %d ids, golden %zu (first difference in the list)", i, text, n,
                  json_array_size(gold) - 2);
        /* token strings (debug aid in the golden file) */
        json_t *tokens = json_object_get(c, "tokens");
        for (int k = 0; ok && k < n; k++)
            CHECK(strcmp(clip_token_text(t, ids[k]), json_string_value(json_array_get(tokens, (size_t)k + 1))) == 0);
        free(ids);
        /* clip.tokenize(text, 77, truncate=True) */
        int ids77[CLIP_CONTEXT_LENGTH], n_ids = -1;
        REQUIRE(clip_tokenize(t, text, ctx, ids77, &n_ids, 1) == 0);
        CHECK_MSG(ids_equal_json(ids77, ctx, gold77), "case %zu \"%s\": ids_77 differ", i, text);
        CHECK_MSG(n_ids == (int)json_integer_value(json_object_get(c, "num_ids")), "case %zu: n_ids %d", i, n_ids);
        CHECK((n_ids > ctx) == json_is_true(json_object_get(c, "truncated")));
        /* without truncation: the same ids, or an error for the over-long ones */
        int plain[CLIP_CONTEXT_LENGTH];
        int rc = clip_tokenize(t, text, ctx, plain, NULL, 0);
        if (n_ids <= ctx) CHECK(rc == 0 && memcmp(plain, ids77, sizeof plain) == 0);
        else CHECK_MSG(rc == MVLA_ERR_ARG && strstr(mvla_error_message(), "context length"), "rc %d: %s", rc,
                       mvla_error_message());
        n_checked++;
    }
    CHECK(n_checked == (int)json_array_size(cases));
    json_decref(root);
    clip_tokenizer_free(t);
}

static void check_normalized(const char *in, const char *expected)
{
    char *out = NULL;
    if (clip_normalize_text(in, &out) != 0) {
        test_fail(__FILE__, __LINE__, "normalize \"%s\": %s", in, mvla_error_message());
        return;
    }
    CHECK_MSG(strcmp(out, expected) == 0, "normalize \"%s\" = \"%s\", expected \"%s\"", in, out, expected);
    free(out);
}

TEST(clip_tokenizer_lowercase_and_whitespace)
{
    /* Python's str.lower(): Latin-1, Latin Extended, Greek (with final sigma), Cyrillic, full-width,
     * the one-to-many 'İ' -> "i̇", titlecase digraphs, letters without a lowercase left alone. */
    check_normalized("Über STRASSE Ærø ŁÓDŹ Dvořák", "über strasse ærø łódź dvořák");
    check_normalized("ΟΔΟΣ ΣΟΦΟΣ. ΑΣ", "οδος σοφος. ας");
    check_normalized("Σ ΑΣΑ Α'Σ", "σ ασα α'ς");
    check_normalized("ИДИ К ЧАШКЕ Ёж", "иди к чашке ёж");
    check_normalized("ＡＢＣ ｘ", "ａｂｃ ｘ");
    check_normalized("İstanbul", "i\xcc\x87stanbul");
    check_normalized("ǅ ǈ ß ẞ K Å", "ǆ ǉ ß ß k å");
    check_normalized("가장 왼쪽 IS 컵", "가장 왼쪽 is 컵");
    /* whitespace: runs of any Unicode White_Space -> one space, ends stripped */
    check_normalized("  go \t\n to\u3000\u00a0the\u2028cup \r\n", "go to the cup");
    check_normalized(" \t\n ", "");
    check_normalized("", "");
    /* U+001C..U+001F are str.isspace() (stripped at the ends) but not White_Space (kept inside) */
    check_normalized("\x1c go\x1fto \x1d", "go\x1fto");
    /* invalid UTF-8 becomes U+FFFD, one per maximal invalid subpart, like bytes.decode(errors="replace") */
    check_normalized("a\xff\xc3" "b\xe2\x82", "a\xef\xbf\xbd\xef\xbf\xbd" "b\xef\xbf\xbd");

    ClipTokenizer *t = load_golden_tokenizer();
    REQUIRE(t);
    const char *same[][2] = {
        {"Go To The CUP", "go to the cup"},
        {"  go   to\tthe\n\ncup  ", "go to the cup"},
        {"ÜBER", "über"},
        {"\xff", "\xef\xbf\xbd"},
        /* a Korean instruction cut in the middle of a character (fixed-length HDF5 string) */
        {"\xea\xb0\x80\xec\x9e", "\xea\xb0\x80\xef\xbf\xbd"},
    };
    for (size_t k = 0; k < sizeof same / sizeof *same; k++) {
        int *a = NULL, *b = NULL, na = 0, nb = 0;
        REQUIRE(clip_encode(t, same[k][0], &a, &na) == 0 && clip_encode(t, same[k][1], &b, &nb) == 0);
        CHECK_MSG(na == nb && na > 0 && memcmp(a, b, (size_t)na * sizeof *a) == 0, "\"%s\" and \"%s\" differ", same[k][0],
                  same[k][1]);
        free(a), free(b);
    }
    int *ids = NULL, n = -1;
    CHECK(clip_encode(t, " \t ", &ids, &n) == 0 && n == 0 && ids == NULL);
    /* contractions split off anywhere; digits one by one; the typed special tokens */
    CHECK(clip_encode(t, "'s", &ids, &n) == 0 && n == 1 && strcmp(clip_token_text(t, ids[0]), "'s</w>") == 0);
    free(ids);
    CHECK(clip_encode(t, "1024", &ids, &n) == 0 && n == 4);
    free(ids);
    CHECK(clip_encode(t, "x<|endoftext|>", &ids, &n) == 0 && n == 2 && ids[1] == clip_eot_id(t));
    free(ids);
    clip_tokenizer_free(t);
}

TEST(clip_tokenizer_truncation_and_padding)
{
    ClipTokenizer *t = load_golden_tokenizer();
    REQUIRE(t);
    int ids[CLIP_CONTEXT_LENGTH], n = 0;
    REQUIRE(clip_tokenize(t, "go to the cup", CLIP_CONTEXT_LENGTH, ids, &n, 1) == 0);
    CHECK(n == 6 && ids[0] == 49406 && ids[5] == 49407);
    for (int i = n; i < CLIP_CONTEXT_LENGTH; i++) CHECK(ids[i] == 0);
    /* a short context: the first ids kept, EOT forced into the last slot */
    int small[4];
    REQUIRE(clip_tokenize(t, "go to the cup", 4, small, &n, 1) == 0);
    CHECK(n == 6);
    CHECK(small[0] == 49406 && small[1] == ids[1] && small[2] == ids[2] && small[3] == 49407);
    for (int i = 0; i < 4; i++) small[i] = -7;
    CHECK(clip_tokenize(t, "go to the cup", 4, small, &n, 0) == MVLA_ERR_ARG);
    CHECK(small[0] == -7); /* untouched on error */
    /* exactly fitting: no truncation */
    int fit[6];
    REQUIRE(clip_tokenize(t, "go to the cup", 6, fit, &n, 0) == 0);
    CHECK(memcmp(fit, ids, sizeof fit) == 0);
    /* the empty text: SOT, EOT, padding */
    REQUIRE(clip_tokenize(t, "", 3, small, &n, 1) == 0);
    CHECK(n == 2 && small[0] == 49406 && small[1] == 49407 && small[2] == 0);
    CHECK(clip_tokenize(t, "go", 1, small, &n, 1) == MVLA_ERR_ARG);
    /* a long text of 500 words: 502 ids before truncation */
    char *text = malloc(1001);
    REQUIRE(text);
    for (int i = 0; i < 500; i++) memcpy(text + 2 * i, "a ", 2);
    text[1000] = 0;
    REQUIRE(clip_tokenize(t, text, CLIP_CONTEXT_LENGTH, ids, &n, 1) == 0);
    CHECK(n == 502 && ids[75] == ids[1] && ids[76] == 49407);
    free(text);
    clip_tokenizer_free(t);
}

TEST(clip_tokenizer_token_lookup)
{
    ClipTokenizer *t = load_golden_tokenizer();
    REQUIRE(t);
    /* bytes_to_unicode order: '!' = 0, 'a' = 64, the space byte (U+0120) = 220, 'in' = first merge */
    CHECK(clip_token_id(t, "!") == 0 && clip_token_id(t, "a") == 64 && clip_token_id(t, "\xc4\xa0") == 220);
    CHECK(clip_token_id(t, "in") == 512 && clip_token_id(t, "nope-not-a-token") == -1);
    CHECK(strcmp(clip_token_text(t, 49406), "<|startoftext|>") == 0);
    CHECK(clip_token_text(t, -1) == NULL && clip_token_text(t, 49408) == NULL);
    clip_tokenizer_free(t);
}

/* ---- malformed files */

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        test_fail(__FILE__, __LINE__, "cannot write %s", path);
        return;
    }
    fputs(text, fp);
    fclose(fp);
}

/* Loads vocab (a path) + merges text; expects failure whose message contains each needle. */
static void expect_load_error(const char *vocab, const char *merges_text, const char *needle1, const char *needle2,
                              int line)
{
    char merges[600];
    snprintf(merges, sizeof merges, "%s/merges.txt", test_tmpdir());
    write_text(merges, merges_text);
    ClipTokenizer *t = NULL;
    int rc = clip_tokenizer_load_files(&t, vocab, merges);
    const char *msg = mvla_error_message();
    if (rc == 0 || t != NULL || !strstr(msg, needle1) || (needle2 && !strstr(msg, needle2)))
        test_fail(__FILE__, line, "expected an error with \"%s\"%s%s, got rc %d: %s", needle1, needle2 ? " and " : "",
                  needle2 ? needle2 : "", rc, msg);
    clip_tokenizer_free(t);
}

TEST(clip_tokenizer_malformed_files)
{
    char dir[1024], vocab[1100], bad_vocab[600];
    REQUIRE(golden_clip_dir(dir, sizeof dir));
    snprintf(vocab, sizeof vocab, "%s/vocab.json", dir);
    snprintf(bad_vocab, sizeof bad_vocab, "%s/vocab.json", test_tmpdir());
    const char *ok_merges = "#version: 0.2\ni n\nt h\n";

    /* a working minimal merges file first, so the failures below are the files' fault */
    char merges[600];
    snprintf(merges, sizeof merges, "%s/merges.txt", test_tmpdir());
    write_text(merges, ok_merges);
    ClipTokenizer *t = NULL;
    REQUIRE(clip_tokenizer_load_files(&t, vocab, merges) == 0);
    CHECK(clip_merge_count(t) == 2);
    int *ids = NULL, n = 0;
    CHECK(clip_encode(t, "thin", &ids, &n) == 0 && n == 3); /* "th" merges; (i, n</w>) is not the pair "i n" */
    free(ids);
    clip_tokenizer_free(t);

    /* missing files */
    ClipTokenizer *none = NULL;
    CHECK(clip_tokenizer_load(&none, "/nonexistent-folder") == MVLA_ERR_IO && none == NULL);
    CHECK_MSG(strstr(mvla_error_message(), "/nonexistent-folder/vocab.json"), "%s", mvla_error_message());

    /* merges.txt */
    snprintf(merges, sizeof merges, "%s/absent.txt", test_tmpdir());
    CHECK(clip_tokenizer_load_files(&none, vocab, merges) == MVLA_ERR_IO);
    CHECK_MSG(strstr(mvla_error_message(), "absent.txt"), "%s", mvla_error_message());
    expect_load_error(vocab, "i n\nt h\n", "merges.txt:1:", "#version", __LINE__);
    expect_load_error(vocab, "", "merges.txt", "empty", __LINE__);
    expect_load_error(vocab, "#version: 0.2\ni n\nt h e\n", "merges.txt:3:", "two tokens", __LINE__);
    expect_load_error(vocab, "#version: 0.2\ni n\nth\n", "merges.txt:3:", "two tokens", __LINE__);
    expect_load_error(vocab, "#version: 0.2\ni n\n\nt \xe2\x98\x95\n", "merges.txt:4:", "not in", __LINE__);
    expect_load_error(vocab, "#version: 0.2\nq z\n", "merges.txt:2:", "\"qz\"", __LINE__);

    /* vocab.json */
    write_text(bad_vocab, "{\"a\": 1,\n \"b\": }");
    expect_load_error(bad_vocab, ok_merges, "vocab.json:2:", "invalid JSON", __LINE__);
    write_text(bad_vocab, "[1, 2]");
    expect_load_error(bad_vocab, ok_merges, "vocab.json", "JSON object", __LINE__);
    write_text(bad_vocab, "{\"a\": \"1\"}");
    expect_load_error(bad_vocab, ok_merges, "vocab.json", "token \"a\"", __LINE__);
    write_text(bad_vocab, "{\"a\": -3}");
    expect_load_error(bad_vocab, ok_merges, "vocab.json", "integer id", __LINE__);
    write_text(bad_vocab, "{\"a\": 0, \"b\": 0}");
    expect_load_error(bad_vocab, ok_merges, "vocab.json", "id 0 is used by both", __LINE__);
    write_text(bad_vocab, "{\"a\": 0, \"a\": 1}");
    expect_load_error(bad_vocab, ok_merges, "vocab.json", "duplicate", __LINE__);
    write_text(bad_vocab, "{\"a\": 0, \"<|startoftext|>\": 1, \"<|endoftext|>\": 2}");
    expect_load_error(bad_vocab, ok_merges, "vocab.json", "byte 0x00", __LINE__);
}

static uint32_t next_rand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

/* decode(encode(text)) gives back the normalized text: the same characters, whitespace aside */
static void check_roundtrip(const ClipTokenizer *t, const char *text)
{
    int *ids = NULL, n = 0;
    char *norm = NULL, *dec = NULL;
    if (clip_encode(t, text, &ids, &n) != 0 || clip_normalize_text(text, &norm) != 0 || clip_decode(t, ids, n, &dec) != 0) {
        test_fail(__FILE__, __LINE__, "round trip of \"%.40s\": %s", text, mvla_error_message());
    } else {
        /* drop spaces, and U+0345 which the pre-tokenizer drops too */
        char *a = norm, *b = dec;
        for (char *p = norm; *p; p++)
            if (*p != ' ' && !(p[0] == '\xcd' && p[1] == '\x85' && (p++, 1))) *a++ = *p;
        *a = 0;
        for (char *p = dec; *p; p++)
            if (*p != ' ') *b++ = *p;
        *b = 0;
        CHECK_MSG(strcmp(norm, dec) == 0, "decode(encode(\"%.40s\")) = \"%.40s\", expected \"%.40s\"", text, dec, norm);
    }
    free(ids), free(norm), free(dec);
}

TEST(clip_tokenizer_random_bytes_and_roundtrip)
{
    ClipTokenizer *t = load_golden_tokenizer();
    REQUIRE(t);
    /* arbitrary bytes, invalid UTF-8 included: no failure, every id in the vocabulary, SOT/EOT in place */
    uint64_t seed = 12345;
    char text[200];
    int ids[CLIP_CONTEXT_LENGTH], n = 0, bad = 0;
    for (int iter = 0; iter < 2000; iter++) {
        int len = (int)(next_rand(&seed) % 120);
        for (int i = 0; i < len; i++) {
            uint32_t r = next_rand(&seed);
            text[i] = (char)(r % 4 == 0 ? ' ' : r % 4 == 1 ? 'a' + (r >> 8) % 26 : 1 + (r >> 8) % 255);
        }
        text[len] = 0;
        if (clip_tokenize(t, text, CLIP_CONTEXT_LENGTH, ids, &n, 1) != 0) {
            bad++;
            continue;
        }
        int last = (n < CLIP_CONTEXT_LENGTH ? n : CLIP_CONTEXT_LENGTH) - 1;
        bad += ids[0] != 49406 || ids[last] != 49407;
        for (int i = 1; i < last; i++) bad += ids[i] < 0 || ids[i] >= 49406;
        if (iter % 10 == 0) check_roundtrip(t, text);
    }
    CHECK_MSG(bad == 0, "%d random texts went wrong", bad);
    /* the golden texts and a few more round-trip too */
    const char *more[] = {"Go to the Cup!", "İstanbul ΟΔΟΣ naïve", "가장 왼쪽 외곽으로 돌아 컵까지 가세요", "robot🤖!! x²½٣",
                          "<|startoftext|>go<|endoftext|>", "it's 'sorry' ſ'ſt"};
    for (size_t k = 0; k < sizeof more / sizeof *more; k++) check_roundtrip(t, more[k]);
    /* a 50,000-letter word: BPE stays fast (O(n log n)) and exact in its round trip */
    char *word = malloc(50001);
    REQUIRE(word);
    for (int i = 0; i < 50000; i++) word[i] = (char)('a' + next_rand(&seed) % 26);
    word[50000] = 0;
    check_roundtrip(t, word);
    free(word);
    /* decode of an id outside the vocabulary */
    char *out = NULL;
    int bad_id = 49408;
    CHECK(clip_decode(t, &bad_id, 1, &out) == MVLA_ERR_ARG && out == NULL);
    CHECK_MSG(strstr(mvla_error_message(), "49408"), "%s", mvla_error_message());
    int hello[3] = {49406, clip_token_id(t, "cup</w>"), 49407};
    REQUIRE(hello[1] >= 0 && clip_decode(t, hello, 3, &out) == 0);
    CHECK_MSG(strcmp(out, "<|startoftext|>cup <|endoftext|>") == 0, "%s", out);
    free(out);
    clip_tokenizer_free(t);
}
