/* Episode file names (scenario, side, ...) and the built-in instructions. */
#include "io/episode.h"

#include "io/episode_h5.h"

#include <stdio.h>
#include <string.h>

/* ---- names and instructions ---- */

static int one_of(const char *tok, const char *const *words, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(tok, words[i]) == 0) return 1;
    return 0;
}

void episode_parse_name(const char *path, EpisodeName *out)
{
    static const char *const layouts[] = {"vert", "hori"}, *const sides[] = {"left", "right"},
                             *const kinds[] = {"core", "variant"}, *const dists[] = {"close", "medium", "far"},
                             *const lights[] = {"dawn", "morning", "evening", "night"};
    memset(out, 0, sizeof *out);
    char stem[256];
    ep_file_stem(path, stem, sizeof stem);
    char *ep = strstr(stem, "episode_");
    if (ep == stem) snprintf(out->target, sizeof out->target, "cup");
    else if (ep && ep[-1] == '_') snprintf(out->target, sizeof out->target, "%.*s", (int)(ep - 1 - stem), stem);
    /* Every '_'-separated token is matched against the known words, in any order. */
    char *save = NULL;
    for (char *tok = strtok_r(ep ? ep : stem, "_", &save); tok; tok = strtok_r(NULL, "_", &save)) {
        if (strcmp(tok, "1box") == 0 || strcmp(tok, "2box") == 0) out->boxes = tok[0] - '0';
        else if (one_of(tok, layouts, 2)) snprintf(out->layout, sizeof out->layout, "%s", tok);
        else if (one_of(tok, sides, 2)) snprintf(out->side, sizeof out->side, "%s", tok);
        else if (one_of(tok, kinds, 2)) snprintf(out->kind, sizeof out->kind, "%s", tok);
        else if (one_of(tok, dists, 3)) snprintf(out->distance, sizeof out->distance, "%s", tok);
        else if (one_of(tok, lights, 4)) snprintf(out->lighting, sizeof out->lighting, "%s", tok);
    }
    if (out->boxes && out->layout[0] && out->side[0])
        snprintf(out->scenario, sizeof out->scenario, "%dbox_%s_%s", out->boxes, out->layout, out->side);
}

const char *episode_default_instruction(const char *side, const char *lang)
{
    return episode_default_instruction_for(NULL, side, lang);
}

const char *episode_default_instruction_for(const char *target, const char *side, const char *lang)
{
    int ko = lang && strcmp(lang, "ko") == 0;
    int left = side && strcmp(side, "left") == 0, right = side && strcmp(side, "right") == 0;
    if (ko) /* the original Korean instructions were all about the cup */
        return left ? "가장 왼쪽 외곽으로 돌아 컵까지 가세요"
               : right ? "가장 오른쪽 외곽으로 돌아 컵까지 가세요"
                       : "컵까지 가세요";
    if (target && strcmp(target, "basket") == 0)
        return left ? "Navigate to the gray basket on the left"
               : right ? "Navigate to the gray basket on the right"
                       : "Navigate to the gray basket";
    return left ? "Navigate around obstacles and reach the front of the beverage bottle on the left"
           : right ? "Navigate around obstacles and reach the front of the beverage bottle on the right"
                   : "Navigate around obstacles and reach the front of the beverage bottle";
}
