// Dense matrix multiply C = A * B of n x n doubles, row-major. The program is compiled with
// fixed flags (gcc -O2 -march=x86-64) and run once per measurement:
//     ./matmul N INPUT OUTPUT
// INPUT holds A then B (2 * N * N doubles); the harness writes C (N * N doubles) to OUTPUT.
// The evaluator checks C against its own product and times the whole run from outside.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline int min_int(int x, int y) { return x < y ? x : y; }

// EVOLVE-BLOCK-START
// Tiled i-k-j loop order: c[i][j] += a[i][k] * b[k][j] runs along rows of b and c. A tile is
// 2^TILE_I_LOG2 rows of c by 2^TILE_K_LOG2 terms by 2^TILE_J_LOG2 columns: the knobs. Any loop
// order, tiling, unrolling or vectorisation is allowed, as long as every c[i][j] is the sum over
// k of a[i][k] * b[k][j] in double precision.
static const int TILE_I_LOG2 = 2;
static const int TILE_K_LOG2 = 2;
static const int TILE_J_LOG2 = 2;

static void matmul(int n, const double *restrict a, const double *restrict b, double *restrict c) {
    const int ti = 1 << TILE_I_LOG2, tk = 1 << TILE_K_LOG2, tj = 1 << TILE_J_LOG2;
    memset(c, 0, sizeof(double) * (size_t)n * (size_t)n);
    for (int i0 = 0; i0 < n; i0 += ti)
        for (int k0 = 0; k0 < n; k0 += tk)
            for (int j0 = 0; j0 < n; j0 += tj)
                for (int i = i0; i < min_int(i0 + ti, n); i++)
                    for (int k = k0; k < min_int(k0 + tk, n); k++)
                        for (int j = j0; j < min_int(j0 + tj, n); j++)
                            c[(size_t)i * n + j] += a[(size_t)i * n + k] * b[(size_t)k * n + j];
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
