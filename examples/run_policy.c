/* Runs an mvla model file on frames and prints the actions, using only the public API.
 *   cc run_policy.c $(pkg-config --cflags --libs mvla) -o run_policy
 *   ./run_policy model.safetensors [image.png ...]      (no images: 5 synthetic frames) */
#include <mvla.h>

#include <stb_image.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL [IMAGE ...]\n", argv[0]);
        return 2;
    }
    mvla_model *m;
    mvla_options opt = {.threads = 1};
    if (mvla_open(&m, argv[1], &opt) != MVLA_OK) {
        fprintf(stderr, "run_policy: %s\n", mvla_last_error());
        return 1;
    }
    mvla_set_instruction(m, NULL); /* the model's default instruction */
    int k = mvla_chunk_size(m), frames = argc > 2 ? argc - 2 : 5;
    float *chunk = malloc((size_t)k * 3 * sizeof(float));
    static uint8_t synthetic[120 * 160 * 3];
    for (int t = 0; t < frames; t++) {
        int w = 160, h = 120, order = MVLA_BGR, rc;
        uint8_t *px = synthetic;
        if (argc > 2) {
            int ch;
            px = stbi_load(argv[2 + t], &w, &h, &ch, 3);
            order = MVLA_RGB;
            if (!px) {
                fprintf(stderr, "run_policy: %s: cannot read the image\n", argv[2 + t]);
                break;
            }
        } else {
            for (int i = 0; i < w * h * 3; i++) synthetic[i] = (uint8_t)(i * 7 + t * 31);
        }
        float a[3];
        rc = mvla_step(m, px, w, h, order, a, chunk);
        if (px != synthetic) stbi_image_free(px);
        if (rc != MVLA_OK) {
            fprintf(stderr, "run_policy: %s\n", mvla_last_error());
            break;
        }
        printf("frame %d: linear_x %+.3f m/s  linear_y %+.3f m/s  angular_z %+.3f rad/s\n", t, a[0], a[1], a[2]);
    }
    free(chunk);
    mvla_close(m);
    return 0;
}
