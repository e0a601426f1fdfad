"""axk1's version, in a leaf so that any module may read it (`axk1 serve`'s /version) without importing the
package's public names above it."""

__version__ = "0.1.0"  # as pyproject.toml's
