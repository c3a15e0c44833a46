//! The module structure stays one-way: no cycle between `src/`'s top-level modules,
//! and the layers point down (HTTP → service → domain), as `docs/architecture.md`
//! draws them. Read from the source, so a new `use` that breaks it fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module → the top-level modules its non-test code names (`crate::x`).
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut pending = vec![src.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let module_of = |path: &Path| -> Option<String> {
        let relative = path.strip_prefix(&src).ok()?;
        let first = relative.components().next()?.as_os_str().to_str()?;
        let name = first.trim_end_matches(".rs");
        (!matches!(name, "lib" | "main")).then(|| name.to_owned())
    };
    let modules: BTreeSet<String> = files.iter().filter_map(|p| module_of(p)).collect();
    let named = regex::Regex::new(r"crate::(\w+)").expect("regex");
    let grouped = regex::Regex::new(r"crate::\{([^}]*)").expect("regex");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in &files {
        let Some(module) = module_of(path) else {
            continue;
        };
        let text = std::fs::read_to_string(path).expect("read file");
        // Unit tests may reach anywhere; the structure is about the code they test.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let edges = graph.entry(module.clone()).or_default();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            let mut names: Vec<&str> = named
                .captures_iter(line)
                .map(|c| c.get(1).map_or("", |m| m.as_str()))
                .collect();
            for group in grouped.captures_iter(line) {
                names.extend(
                    group
                        .get(1)
                        .map_or("", |m| m.as_str())
                        .split([',', ' ', ':']),
                );
            }
            for name in names {
                if name != module && modules.contains(name) {
                    edges.insert(name.to_owned());
                }
            }
        }
    }
    graph
}

/// Every module reachable from `from`.
fn reachable(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<&str> = graph
        .get(from)
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    while let Some(next) = stack.pop() {
        if seen.insert(next.to_owned()) {
            stack.extend(graph.get(next).into_iter().flatten().map(String::as_str));
        }
    }
    seen
}

#[test]
fn no_module_depends_on_itself_through_others() {
    let graph = module_graph();
    assert!(graph.len() > 10, "the scan found the modules: {graph:?}");
    for module in graph.keys() {
        let cycle = reachable(&graph, module).contains(module);
        assert!(
            !cycle,
            "`{module}` is in an import cycle; graph: {graph:#?}"
        );
    }
}

#[test]
fn layers_point_down() {
    let graph = module_graph();
    // The domain knows nothing of HTTP, of the service layer or of the error table.
    for domain in [
        "cache",
        "index",
        "schema",
        "search",
        "store",
        "sync",
        "validation",
    ] {
        let reached = reachable(&graph, domain);
        for upper in [
            "routes",
            "service",
            "state",
            "startup",
            "error",
            "extract",
            "middleware",
        ] {
            assert!(
                !reached.contains(upper),
                "`{domain}` reaches `{upper}`: {:?}",
                graph.get(domain)
            );
        }
    }
    // The service layer knows nothing of HTTP.
    let reached = reachable(&graph, "service");
    for http in ["routes", "extract", "middleware"] {
        assert!(!reached.contains(http), "`service` reaches `{http}`");
    }
}
