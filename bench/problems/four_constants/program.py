# EVOLVE-BLOCK-START
A = 1.0
B = 2.0
C = 3.0
D = 4.0


# EVOLVE-BLOCK-END
def constants():
    return A, B, C, D
