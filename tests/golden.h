/* The project's shared golden data (reference outputs of the original CLIP / Kosmos-2 code).
 * Found at $MVLA_GOLDEN_DIR, else ../shared/golden (tests run from the repository root), else
 * /work/shared/golden (where the team's machines keep shared/ when the checkout lives elsewhere). */
#ifndef MVLA_TEST_GOLDEN_H
#define MVLA_TEST_GOLDEN_H

/* The golden root folder, or NULL after failing the current test with the paths tried. */
const char *golden_dir(void);

#endif
