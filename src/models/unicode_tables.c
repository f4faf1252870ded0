/* Lookups over the generated Unicode tables (unicode_tables_gen.c), Python's str.lower() with the
 * Greek final-sigma rule, and a UTF-8 decoder that replaces bad bytes the way Python does. */
#include "models/unicode_tables.h"

unsigned uc_props(uint32_t cp)
{
    if (cp < 128) return uc_ascii_flags[cp];
    int lo = 0, hi = uc_prop_range_count - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < uc_prop_ranges[mid].first) hi = mid - 1;
        else if (cp > uc_prop_ranges[mid].last) lo = mid + 1;
        else return uc_prop_ranges[mid].flags;
    }
    return 0;
}

/* Lowercase of one code point out of context; writes 1..3 code points, returns the count. */
static int lower_one(uint32_t cp, uint32_t *out)
{
    if (cp < 128) {
        out[0] = cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
        return 1;
    }
    for (int i = 0; i < uc_lower_multi_count; i++)
        if (uc_lower_multi[i].cp == cp) {
            for (int k = 0; k < uc_lower_multi[i].count; k++) out[k] = uc_lower_multi[i].to[k];
            return uc_lower_multi[i].count;
        }
    int lo = 0, hi = uc_lower_run_count - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const UcLowerRun *r = &uc_lower_runs[mid];
        if (cp < r->first) hi = mid - 1;
        else if (cp > r->last) lo = mid + 1;
        else {
            out[0] = (cp - r->first) % r->stride == 0 ? (uint32_t)((int32_t)cp + r->offset) : cp;
            return 1;
        }
    }
    out[0] = cp;
    return 1;
}

/* CPython's handle_capital_sigma: U+03A3 at i is final when a cased character precedes it and none
 * follows it, case-ignorable characters being skipped in both directions. */
static uint32_t lower_sigma(const uint32_t *in, size_t n, size_t i)
{
    size_t j = i;
    unsigned f = 0;
    while (j > 0) {
        f = uc_props(in[--j]);
        if (!(f & UC_CASE_IGNORABLE)) break;
        f = 0;
    }
    if (!(f & UC_CASED)) return 0x3C3;
    for (j = i + 1; j < n; j++) {
        f = uc_props(in[j]);
        if (!(f & UC_CASE_IGNORABLE)) return (f & UC_CASED) ? 0x3C3 : 0x3C2;
    }
    return 0x3C2;
}

size_t uc_lower(const uint32_t *in, size_t n, uint32_t *out)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == 0x3A3) out[m++] = lower_sigma(in, n, i);
        else m += (size_t)lower_one(in[i], out + m);
    }
    return m;
}

/* Allowed range of the second byte after lead byte b (Unicode Table 3-7). */
static void second_byte_range(unsigned b, unsigned *lo, unsigned *hi)
{
    *lo = 0x80, *hi = 0xBF;
    if (b == 0xE0) *lo = 0xA0;
    else if (b == 0xED) *hi = 0x9F;
    else if (b == 0xF0) *lo = 0x90;
    else if (b == 0xF4) *hi = 0x8F;
}

size_t uc_utf8_decode(const char *s, size_t len, uint32_t *out, size_t *n_invalid)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, m = 0, bad = 0;
    while (i < len) {
        unsigned b = p[i];
        if (b < 0x80) {
            out[m++] = b, i++;
            continue;
        }
        int need = b >= 0xC2 && b <= 0xDF ? 1 : b >= 0xE0 && b <= 0xEF ? 2 : b >= 0xF0 && b <= 0xF4 ? 3 : -1;
        if (need < 0) { /* continuation byte or impossible lead: one replacement per byte */
            out[m++] = 0xFFFD, i++, bad++;
            continue;
        }
        uint32_t cp = b & (0x3Fu >> need);
        size_t k = 1;
        unsigned lo, hi;
        second_byte_range(b, &lo, &hi);
        for (; k <= (size_t)need && i + k < len; k++) {
            unsigned c = p[i + k];
            if (c < lo || c > hi) break;
            cp = (cp << 6) | (c & 0x3F);
            lo = 0x80, hi = 0xBF;
        }
        if (k == (size_t)need + 1) {
            out[m++] = cp;
        } else { /* the maximal valid prefix becomes one replacement character */
            out[m++] = 0xFFFD;
            bad++;
        }
        i += k;
    }
    if (n_invalid) *n_invalid = bad;
    return m;
}

int uc_utf8_encode(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}
