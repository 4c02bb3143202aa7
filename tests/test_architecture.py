"""Imports point one way, down the layers, with no cycle, not even inside a function.

The graph is read from the source with ``ast``: imports at module level and inside functions,
relative ones resolved. Migrations, tests and benchmarks are left out. The first tests check the
graph builder itself on small packages written to a temporary folder; the last ones check the
portal.
"""

import ast
import io
import textwrap
import tokenize
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIPPED_FOLDERS = {"migrations", "tests", "bench", ".venv", "__pycache__"}
# Bottom to top. An app may import its own layer and the ones below, never one above.
LAYERS = [
    ["outbound"],
    ["core"],
    ["accounts"],
    ["microsoft"],
    ["sso"],
    ["customers"],
    ["servicehealth", "incidents", "messagecenter"],
    ["servicerequests"],
    ["integrations"],
    ["dashboard", "demo", "simulators"],
]
# Settings, URLs and the Celery app: above every layer, it may import anything and nothing
# imports it (Django reaches it through DJANGO_SETTINGS_MODULE).
CONFIGURATION = "partnerportal"
# They stand in for Microsoft and the PSA tools in tests and demos: sharing the portal's code
# would let one bug on both sides go unseen.
STANDALONE = ["simulators"]
# What the portal sends out, at the very bottom: no Django and no other portal package, so its
# settings are passed in and it can be read (and tested) without either.
FRAMEWORK_FREE = ["outbound"]
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


@dataclass(frozen=True)
class Import:
    importer: str
    target: str
    file: str  # relative to the root, with forward slashes
    line: int
    in_function: bool
    commented: bool  # a comment line just before it, or a comment on its own lines

    @property
    def where(self):
        return f"{self.file}:{self.line}"

    def __str__(self):
        inside = " (inside a function)" if self.in_function else ""
        return f"{self.importer} -> {self.target} at {self.where}{inside}"


def top(module):
    return module.split(".")[0]


def find_modules(root):
    """``{dotted name: path}`` of every module of the packages directly under ``root``."""
    modules = {}
    for init in sorted(root.glob("*/__init__.py")):
        package = init.parent
        if package.name in SKIPPED_FOLDERS:
            continue
        for path in sorted(package.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if SKIPPED_FOLDERS.intersection(parts[:-1]):
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _comments(source):
    """The lines holding a comment, and those holding nothing else."""
    anywhere, alone = set(), set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            anywhere.add(token.start[0])
            if token.line.lstrip().startswith("#"):
                alone.add(token.start[0])
    return anywhere, alone


def _statements(tree):
    """Every import statement with whether it sits inside a function."""
    pending = [(node, False) for node in tree.body]
    while pending:
        node, in_function = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, in_function
        inside = in_function or isinstance(node, FUNCTIONS)
        pending.extend((child, inside) for child in ast.iter_child_nodes(node))


def _imported_names(module, is_package, node):
    """The dotted names an import statement brings in, relative ones resolved."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def _targets(name, modules):
    """The project modules that importing ``name`` runs: each package on the way, then the module
    (``from a.b import c`` runs ``a``, ``a.b`` and, when it is a module, ``a.b.c``)."""
    parts = name.split(".")
    prefixes = (".".join(parts[:end]) for end in range(1, len(parts) + 1))
    return [prefix for prefix in prefixes if prefix in modules]


def build_graph(root):
    """Every import between the project's own modules under ``root``."""
    modules = find_modules(root)
    imports = set()
    for module, path in modules.items():
        source = path.read_text(encoding="utf-8")
        file = path.relative_to(root).as_posix()
        anywhere, alone = _comments(source)
        is_package = path.name == "__init__.py"
        for node, in_function in _statements(ast.parse(source, filename=str(path))):
            own_lines = range(node.lineno, node.end_lineno + 1)
            commented = node.lineno - 1 in alone or not anywhere.isdisjoint(own_lines)
            for name in _imported_names(module, is_package, node):
                for target in _targets(name, modules):
                    if target != module:
                        imports.add(
                            Import(module, target, file, node.lineno, in_function, commented)
                        )
    return sorted(imports, key=lambda i: (i.importer, i.line, i.target))


def cycles(edges):
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    graph = {}
    for source, target in edges:
        graph.setdefault(source, set()).add(target)
        graph.setdefault(target, set())
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return sorted(found)


def module_cycles(imports):
    return cycles((i.importer, i.target) for i in imports)


def app_cycles(imports):
    return cycles(
        (top(i.importer), top(i.target)) for i in imports if top(i.importer) != top(i.target)
    )


def edges_within(component, imports, key=lambda module: module):
    """The imports that make up a cycle found by ``cycles``, to say where to cut it."""
    members = set(component)
    return [
        str(i)
        for i in imports
        if key(i.importer) != key(i.target) and {key(i.importer), key(i.target)} <= members
    ]


def upward_imports(imports, layers=LAYERS, configuration=CONFIGURATION):
    """Imports from an app into one in a higher layer, or into the configuration. An app in no
    layer is left out here: ``test_every_package_has_a_layer`` names it."""
    rank = {app: level for level, apps in enumerate(layers) for app in apps}
    rank[configuration] = len(layers)
    return sorted(
        str(i)
        for i in imports
        if top(i.importer) != configuration
        and rank.get(top(i.target), -1) > rank.get(top(i.importer), len(layers))
    )


def uncommented_function_imports(imports):
    return sorted({i.where for i in imports if i.in_function and not i.commented})


# --- the graph builder, on throw-away packages ----------------------------------------------------


def write_tree(root, files):
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    return root


def test_the_builder_resolves_relative_imports_and_sees_imports_inside_functions(tmp_path):
    write_tree(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/models.py": "",
            "app/sub/__init__.py": "from .. import models\n",
            "app/sub/views.py": """\
                from ..models import Thing
                from . import helpers


                def view():
                    # Imported here: the reason.
                    from app.sub import forms
                    from os import path
                """,
            "app/sub/helpers.py": "",
            "app/sub/forms.py": "",
            "app/migrations/__init__.py": "from app.sub import views\n",
            "app/tests/test_views.py": "from app.sub import views\n",
            "other/__init__.py": "",
        },
    )
    imports = build_graph(tmp_path)
    assert {(i.importer, i.target, i.line, i.in_function, i.commented) for i in imports} == {
        ("app.sub", "app", 1, False, False),
        ("app.sub", "app.models", 1, False, False),
        ("app.sub.views", "app", 1, False, False),
        ("app.sub.views", "app.models", 1, False, False),
        ("app.sub.views", "app", 2, False, False),
        ("app.sub.views", "app.sub", 2, False, False),
        ("app.sub.views", "app.sub.helpers", 2, False, False),
        # Importing app.sub.forms runs the packages on the way too.
        ("app.sub.views", "app", 7, True, True),
        ("app.sub.views", "app.sub", 7, True, True),
        ("app.sub.views", "app.sub.forms", 7, True, True),
    }


def test_a_cycle_between_modules_is_found_even_inside_a_function(tmp_path):
    write_tree(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/services.py": "from app import tasks\n",
            "app/tasks.py": "def run():\n    from app import services\n",
            "app/api.py": "from app import services\n",
        },
    )
    imports = build_graph(tmp_path)
    assert module_cycles(imports) == [["app.services", "app.tasks"]]
    assert app_cycles(imports) == []


def test_a_longer_cycle_is_one_component(tmp_path):
    write_tree(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/a.py": "from . import b\n",
            "app/b.py": "from . import c\n",
            "app/c.py": "import app.a\n",
            "app/d.py": "import app.a\n",
        },
    )
    assert module_cycles(build_graph(tmp_path)) == [["app.a", "app.b", "app.c"]]


def test_a_cycle_between_apps_is_found_without_a_cycle_between_modules(tmp_path):
    write_tree(
        tmp_path,
        {
            "low/__init__.py": "",
            "low/models.py": "from high.status import LABELS\n",
            "high/__init__.py": "",
            "high/status.py": "LABELS = {}\n",
            "high/sync.py": "from low.models import Thing\n",
        },
    )
    imports = build_graph(tmp_path)
    assert module_cycles(imports) == []
    assert app_cycles(imports) == [["high", "low"]]
    assert upward_imports(imports, layers=[["low"], ["high"]], configuration="config") == [
        "low.models -> high at low/models.py:1",
        "low.models -> high.status at low/models.py:1",
    ]


def test_imports_across_a_layer_or_down_pass_and_the_configuration_is_above_all(tmp_path):
    write_tree(
        tmp_path,
        {
            "base/__init__.py": "",
            "base/a.py": "",
            "base/b.py": "def f():\n    import config  # why\n",
            "left/__init__.py": "from base import a\n",
            "right/__init__.py": "import left\n",
            "config/__init__.py": "import base, left, right\n",
        },
    )
    found = upward_imports(
        build_graph(tmp_path), layers=[["base"], ["left", "right"]], configuration="config"
    )
    assert found == ["base.b -> config at base/b.py:2 (inside a function)"]


def test_an_import_inside_a_function_needs_a_comment_before_it_or_on_its_lines(tmp_path):
    write_tree(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/a.py": "",
            "app/b.py": """\
                def commented_before():
                    # Imported here: app loading.
                    from app import a


                def commented_on_the_line():
                    from app import a  # app loading


                def commented_in_parentheses():
                    from app import (
                        a,  # app loading
                    )


                def bare():
                    x = 1  # about the code, not the import
                    from app import a


                def bare_in_a_nested_block():
                    if x:
                        from app import a
                """,
        },
    )
    assert uncommented_function_imports(build_graph(tmp_path)) == ["app/b.py:18", "app/b.py:23"]


# --- the portal --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def portal():
    return build_graph(ROOT)


def test_the_portal_graph_is_read(portal):
    importers = {i.importer for i in portal}
    assert {"servicerequests.services", "customers.services", "integrations.delivery"} <= importers


def test_every_package_has_a_layer():
    known = {app for apps in LAYERS for app in apps} | {CONFIGURATION}
    packages = {top(module) for module in find_modules(ROOT)}
    assert packages - known == set(), "put each new app in a layer of LAYERS"


def test_no_cycle_between_modules(portal):
    found = module_cycles(portal)
    assert found == [], "\n".join(
        "\n  ".join(["cycle:", *edges_within(component, portal)]) for component in found
    )


def test_no_cycle_between_apps(portal):
    found = app_cycles(portal)
    assert found == [], "\n".join(
        "\n  ".join(["cycle:", *edges_within(component, portal, key=top)]) for component in found
    )


def test_imports_point_down_the_layers(portal):
    found = upward_imports(portal)
    assert found == [], "\n".join(found)


def framework_or_portal_imports(root, packages):
    """Imports of django, or of another project package, by the modules of ``packages``."""
    modules = find_modules(root)
    project = {top(module) for module in modules}
    found = []
    for module, path in modules.items():
        if top(module) not in packages:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, _in_function in _statements(tree):
            names = _imported_names(module, path.name == "__init__.py", node)
            if isinstance(node, ast.ImportFrom):
                names = names[:1]  # the module: what it names comes from there
            found.extend(
                f"{module} -> {name} at line {node.lineno}"
                for name in names
                if top(name) == "django" or (top(name) in project and top(name) != top(module))
            )
    return sorted(found)


def test_the_framework_free_check_finds_django_and_portal_imports(tmp_path):
    write_tree(
        tmp_path,
        {
            "low/__init__.py": "import requests\n",
            "low/a.py": "from django.conf import settings\n",
            "low/b.py": "def f():\n    import app.models  # why\n",
            "low/c.py": "from . import a\n",
            "app/__init__.py": "import django\n",
            "app/models.py": "",
        },
    )
    assert framework_or_portal_imports(tmp_path, ["low"]) == [
        "low.a -> django.conf at line 1",
        "low.b -> app.models at line 2",
    ]


def test_outbound_imports_neither_django_nor_the_portal():
    assert "outbound.transport" in find_modules(ROOT)
    found = framework_or_portal_imports(ROOT, FRAMEWORK_FREE)
    assert found == [], "\n".join(found)


def test_the_simulators_import_nothing_of_the_portal(portal):
    found = [
        str(i) for i in portal if top(i.importer) in STANDALONE and top(i.target) != top(i.importer)
    ]
    assert found == [], "\n".join(found)


def test_every_import_inside_a_function_says_why(portal):
    """Only where Django's app loading needs one (``AppConfig.ready``), with a comment."""
    found = uncommented_function_imports(portal)
    assert found == [], "\n".join(found)
