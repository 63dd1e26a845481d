"""Test settings shared by every test module."""
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# Test helper modules (fixtures that write videos and records) live here.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
