# EVOLVE-BLOCK-START
def value():
    return 1.0  # candidate 0


# EVOLVE-BLOCK-END
