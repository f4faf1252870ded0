/* The report text buffer's escapes: CSV fields (RFC 4180) and XML text. */
#include "test.h"

#include "train/strbuf.h"

#include <stdlib.h>
#include <string.h>

static int appended_is(void (*append)(StrBuf *, const char *), const char *in, const char *want)
{
    StrBuf b;
    strbuf_init(&b);
    append(&b, in);
    char *got = strbuf_take(&b);
    int ok = got && strcmp(got, want) == 0;
    if (!ok) fprintf(stderr, "  \"%s\" -> \"%s\", expected \"%s\"\n", in, got ? got : "(null)", want);
    free(got);
    return ok;
}

TEST(strbuf_csv_quotes_only_what_needs_it)
{
    CHECK(appended_is(strbuf_csv, "episode_1.h5", "episode_1.h5"));
    CHECK(appended_is(strbuf_csv, "", ""));
    CHECK(appended_is(strbuf_csv, "a,b.h5", "\"a,b.h5\""));
    CHECK(appended_is(strbuf_csv, "say \"hi\".h5", "\"say \"\"hi\"\".h5\""));
    CHECK(appended_is(strbuf_csv, "\"", "\"\"\"\""));
    CHECK(appended_is(strbuf_csv, "two\nlines", "\"two\nlines\""));
}

TEST(strbuf_xml_escapes_markup)
{
    CHECK(appended_is(strbuf_xml, "a<b & \"c\">", "a&lt;b &amp; &quot;c&quot;&gt;"));
    CHECK(appended_is(strbuf_xml, "plain", "plain"));
}
