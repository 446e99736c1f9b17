"""My Vigil plugin (rename this package: the host refuses a package name already taken)."""
