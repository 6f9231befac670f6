// Dense matrix multiply C = A * B of n x n doubles, row-major. The program is compiled with
// fixed flags (gcc -O2 -march=x86-64) and run once per measurement:
//     ./matmul N INPUT OUTPUT
// INPUT holds A then B (2 * N * N doubles); the harness writes C (N * N doubles) to OUTPUT.
// The evaluator checks C against its own product and times the whole run from outside.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// EVOLVE-BLOCK-START
// A stronger reference (not evolved): b is packed, four columns at a time over a tile of k, into
// a contiguous strip; each 4 x 4 block of c is accumulated in eight SSE2 registers (GCC vector
// extensions, two doubles each) over the tile, so every value loaded serves several multiply-adds.
// Edges (n not a multiple of 4) take a plain loop.
typedef double v2d __attribute__((vector_size(16)));
static const int TILE_K = 256;

static void edge(int n, const double *a, const double *b, double *c, int i0, int i1, int j0, int j1, int k0,
                 int k1) {
    for (int i = i0; i < i1; i++)
        for (int k = k0; k < k1; k++) {
            double aik = a[(size_t)i * n + k];
            for (int j = j0; j < j1; j++) c[(size_t)i * n + j] += aik * b[(size_t)k * n + j];
        }
}

static void matmul(int n, const double *restrict a, const double *restrict b, double *restrict c) {
    memset(c, 0, sizeof(double) * (size_t)n * (size_t)n);
    v2d *strip = aligned_alloc(64, sizeof(v2d) * 2 * (size_t)TILE_K);
    int n4 = n - n % 4;
    for (int k0 = 0; k0 < n; k0 += TILE_K) {
        int k1 = k0 + TILE_K < n ? k0 + TILE_K : n, kn = k1 - k0;
        for (int j0 = 0; j0 < n4; j0 += 4) {
            for (int k = 0; k < kn; k++) {
                const double *bk = b + (size_t)(k0 + k) * n + j0;
                strip[2 * k] = (v2d){bk[0], bk[1]};
                strip[2 * k + 1] = (v2d){bk[2], bk[3]};
            }
            for (int i0 = 0; i0 < n4; i0 += 4) {
                const double *a0 = a + (size_t)i0 * n + k0, *a1 = a0 + n, *a2 = a1 + n, *a3 = a2 + n;
                v2d c00 = {0, 0}, c01 = {0, 0}, c10 = {0, 0}, c11 = {0, 0};
                v2d c20 = {0, 0}, c21 = {0, 0}, c30 = {0, 0}, c31 = {0, 0};
                for (int k = 0; k < kn; k++) {
                    v2d s0 = strip[2 * k], s1 = strip[2 * k + 1];
                    v2d x0 = {a0[k], a0[k]}, x1 = {a1[k], a1[k]}, x2 = {a2[k], a2[k]}, x3 = {a3[k], a3[k]};
                    c00 += x0 * s0, c01 += x0 * s1, c10 += x1 * s0, c11 += x1 * s1;
                    c20 += x2 * s0, c21 += x2 * s1, c30 += x3 * s0, c31 += x3 * s1;
                }
                v2d *rows[4][2] = {{&c00, &c01}, {&c10, &c11}, {&c20, &c21}, {&c30, &c31}};
                for (int ii = 0; ii < 4; ii++) {
                    double *cr = c + (size_t)(i0 + ii) * n + j0;
                    v2d lo = *rows[ii][0], hi = *rows[ii][1];
                    cr[0] += lo[0], cr[1] += lo[1], cr[2] += hi[0], cr[3] += hi[1];
                }
            }
            edge(n, a, b, c, n4, n, j0, j0 + 4, k0, k1);
        }
        edge(n, a, b, c, 0, n, n4, n, k0, k1);
    }
    free(strip);
}
// EVOLVE-BLOCK-END

// The harness: read A and B, multiply once, write C. Nothing here may change.
int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s N INPUT OUTPUT\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[1]);
    size_t count = (size_t)n * (size_t)n;
    double *a = aligned_alloc(64, sizeof(double) * count);
    double *b = aligned_alloc(64, sizeof(double) * count);
    double *c = aligned_alloc(64, sizeof(double) * count);
    FILE *in = fopen(argv[2], "rb");
    if (n <= 0 || !a || !b || !c || !in || fread(a, sizeof(double), count, in) != count ||
        fread(b, sizeof(double), count, in) != count) {
        fprintf(stderr, "cannot read %d x %d matrices from %s\n", n, n, argv[2]);
        return 2;
    }
    fclose(in);
    memset(c, 0xff, sizeof(double) * count);  // c starts as NaNs: matmul must set every entry
    matmul(n, a, b, c);
    FILE *out = fopen(argv[3], "wb");
    if (!out || fwrite(c, sizeof(double), count, out) != count || fclose(out) != 0) {
        fprintf(stderr, "cannot write the product to %s\n", argv[3]);
        return 2;
    }
    return 0;
}
