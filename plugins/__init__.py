"""vizkit's built-in plugins, installed as the package ``vizkit_plugins``.

They register through the same hooks as third-party plugins (:mod:`vizkit.hookspecs`).
"""
