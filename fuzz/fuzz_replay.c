/*
 * fuzz_replay.c - runs fuzz_scsi's LLVMFuzzerTestOneInput over files and
 * directories (the committed corpus) without libFuzzer, so every
 * compiler and sanitizer build replays the corpus as a regression test.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *fuzz_scsi_unreached(void);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz_replay: cannot open %s\n", path);
        return -1;
    }
    static uint8_t data[1 << 20];
    size_t n = fread(data, 1, sizeof(data), f);
    fclose(f);
    LLVMFuzzerTestOneInput(data, n);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: fuzz_replay FILE|DIR...\n");
        return 2;
    }
    LLVMFuzzerInitialize(&argc, &argv);
    unsigned files = 0, dirs = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            fprintf(stderr, "fuzz_replay: %s: no such file or directory\n", argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (replay_file(argv[i]) < 0)
                return 1;
            files++;
            continue;
        }
        dirs++;
        DIR *d = opendir(argv[i]);
        if (!d) {
            fprintf(stderr, "fuzz_replay: cannot read directory %s\n", argv[i]);
            return 1;
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
            if (replay_file(path) < 0) {
                closedir(d);
                return 1;
            }
            files++;
        }
        closedir(d);
    }
    if (files == 0) {
        fprintf(stderr, "fuzz_replay: no inputs found\n");
        return 1;
    }
    /* A directory is a corpus: it must exercise every adapter. */
    const char *unreached = fuzz_scsi_unreached();
    if (dirs && unreached) {
        fprintf(stderr, "fuzz_replay: no input sends a command to %s; add a seed for it "
                        "(fuzz/make_corpus.py)\n", unreached);
        return 1;
    }
    printf("fuzz_replay: %u inputs, every request completed properly\n", files);
    return 0;
}
