"""Dependency rules of the layout, read from the imports themselves."""

import ast
from pathlib import Path

SERVICE = Path(__file__).resolve().parents[2] / "service"
VENDOR_SDKS = {"twilio", "smtplib", "aiosmtpd", "requests", "clamav_client"}


def _imports(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, 0
        elif isinstance(node, ast.ImportFrom):
            yield node.module or "", node.level


def test_service_imports_no_concrete_channel_or_vendor_sdk():
    offenders = []
    for path in SERVICE.rglob("*.py"):
        for module, level in _imports(path):
            top = module.split(".")[0]
            if level == 0 and (top == "channels" or top in VENDOR_SDKS):
                offenders.append(f"{path.relative_to(SERVICE)} imports {module}")
    assert offenders == []


def test_nothing_imports_routes():
    offenders = []
    for path in SERVICE.rglob("*.py"):
        if path.name == "__init__.py" and path.parent == SERVICE:
            continue  # the application factory registers the blueprints
        for module, _level in _imports(path):
            if module.endswith("routes") or ".routes" in module:
                offenders.append(f"{path.relative_to(SERVICE)} imports {module}")
    assert offenders == []


def test_only_config_reads_the_environment():
    offenders = [str(p.relative_to(SERVICE)) for p in SERVICE.rglob("*.py")
                 if "os.environ" in p.read_text() and p.name != "config.py"]
    assert offenders == []
