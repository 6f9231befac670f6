# EVOLVE-BLOCK-START
def value():
    return 1.5 * 2.0 + 0.25


# EVOLVE-BLOCK-END
