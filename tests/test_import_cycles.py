"""No module of enhanceit imports one that imports it back, function-level imports included.

The layers (``lint-imports``, ``pyproject.toml``) keep the top-level parts from importing each other both ways;
this keeps the modules inside one part from it too (``pipeline.process`` and ``pipeline.animated`` did,
and ``api.app`` and ``api.routes.web``; the settings and ``security`` did across parts).
"""

from __future__ import annotations

import grimp


def test_no_import_cycle_between_two_modules() -> None:
    graph = grimp.build_graph("enhanceit", include_external_packages=False)
    cycles = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported != module and graph.chain_exists(importer=imported, imported=module):
                back = graph.find_shortest_chain(importer=imported, imported=module) or ()
                cycles.append(f"{module} -> {' -> '.join(back)}")
    assert cycles == []
