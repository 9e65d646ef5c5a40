"""The Qt-free core: audio, features, descriptions, prompts, backends, store, reports, pipeline.

Nothing under this package may import PySide6 (tests/test_core_without_qt.py enforces it).
"""
