import sys
from pathlib import Path

# The tests here share edit_helpers.py.
sys.path.insert(0, str(Path(__file__).resolve().parent))
