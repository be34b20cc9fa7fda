//! The shape README's ARCHITECTURE section describes, enforced on src/ as Rust code:
//! every `crate::` path outside unit tests points down the module order, and the
//! research engine and citation stages keep their functions short enough to read.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use syn::spanned::Spanned;
use syn::visit::{self, Visit};

/// The library's modules from top to bottom. A module may use any module in a lower
/// layer, never one in its own layer or above. The binary (`main.rs`, `cli.rs`,
/// `commands/`) sits above them all.
const LAYERS: &[&[&str]] = &[
    &["config"],
    &["serve", "progress", "telemetry", "mcp"],
    &["jobs"],
    &["db"],
    &["research"],
    &["citations"],
    &["tools"],
    &["search", "llm"],
    &["web", "databricks"],
    &["events"],
    &["env", "redact", "text"],
];

/// Where a function may be at most [`MAX_FN_LINES`] long.
const SHORT_FUNCTIONS: &[&str] = &["research", "citations"];
const MAX_FN_LINES: usize = 120;

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The order as README writes it: `config → serve | progress → … → env | redact | text`.
fn rendered_order() -> String {
    LAYERS
        .iter()
        .map(|l| {
            l.iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect::<Vec<_>>()
        .join(" → ")
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every library source file with its top-level module.
fn library_files() -> Vec<(String, PathBuf)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&src(), &mut files);
    files.sort();
    files
        .into_iter()
        .filter_map(|path| {
            let rel = path.strip_prefix(src()).unwrap();
            let first = rel.components().next()?.as_os_str().to_str()?.to_string();
            let module = first.trim_end_matches(".rs").to_string();
            let binary = ["main", "cli", "commands", "lib"].contains(&module.as_str());
            (!binary).then_some((module, path))
        })
        .collect()
}

/// What one file refers to, and how long its functions are.
#[derive(Default)]
struct Reading {
    /// `(line, module)` of every `crate::module` path outside `#[cfg(test)]` code.
    arrows: Vec<(usize, String)>,
    /// `(name, first line, lines)` of every function, tests included.
    functions: Vec<(String, usize, usize)>,
    in_test: usize,
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Meta>()
                .is_ok_and(|m| m.path().is_ident("test"))
    })
}

impl Reading {
    fn arrow(&mut self, line: usize, module: &syn::Ident) {
        if self.in_test == 0 {
            self.arrows.push((line, module.to_string()));
        }
    }

    fn function(&mut self, name: &syn::Ident, span: proc_macro2::Span) {
        let (start, end) = (span.start().line, span.end().line);
        self.functions
            .push((name.to_string(), start, end - start + 1));
    }

    fn use_tree(&mut self, tree: &syn::UseTree, under_crate: bool) {
        match tree {
            syn::UseTree::Path(p) if under_crate => {
                self.arrow(p.ident.span().start().line, &p.ident)
            }
            syn::UseTree::Path(p) if p.ident == "crate" => self.use_tree(&p.tree, true),
            syn::UseTree::Name(n) if under_crate => {
                self.arrow(n.ident.span().start().line, &n.ident)
            }
            syn::UseTree::Rename(r) if under_crate => {
                self.arrow(r.ident.span().start().line, &r.ident)
            }
            syn::UseTree::Group(g) => g.items.iter().for_each(|t| self.use_tree(t, under_crate)),
            _ => {}
        }
    }
}

impl<'ast> Visit<'ast> for Reading {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        let test = is_cfg_test(&m.attrs);
        self.in_test += usize::from(test);
        visit::visit_item_mod(self, m);
        self.in_test -= usize::from(test);
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.function(&f.sig.ident, f.span());
        visit::visit_item_fn(self, f);
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        self.function(&f.sig.ident, f.span());
        visit::visit_impl_item_fn(self, f);
    }

    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if f.default.is_some() {
            self.function(&f.sig.ident, f.span());
        }
        visit::visit_trait_item_fn(self, f);
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let test = is_cfg_test(&u.attrs);
        if !test {
            self.use_tree(&u.tree, false);
        }
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let mut segments = p.segments.iter();
        if let (Some(first), Some(second)) = (segments.next(), segments.next()) {
            if first.ident == "crate" {
                self.arrow(second.ident.span().start().line, &second.ident);
            }
        }
        visit::visit_path(self, p);
    }
}

fn read(path: &Path) -> Reading {
    let text = std::fs::read_to_string(path).unwrap();
    let file = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reading = Reading::default();
    reading.visit_file(&file);
    reading
}

fn shown(path: &Path) -> String {
    path.strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")))
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn every_crate_path_points_down_the_module_order() {
    let mut upward = Vec::new();
    let mut unplaced = BTreeSet::new();
    for (module, path) in library_files() {
        let Some(from) = layer(&module) else {
            unplaced.insert(module);
            continue;
        };
        for (line, to) in read(&path).arrows {
            if to == module {
                continue;
            }
            match layer(&to) {
                Some(target) if target > from => {}
                Some(_) => upward.push(format!("{}:{line}: {module} → {to}", shown(&path))),
                None => {
                    unplaced.insert(to);
                }
            }
        }
    }
    assert!(
        unplaced.is_empty(),
        "modules missing from LAYERS (place each, here and in README's ARCHITECTURE): {unplaced:?}"
    );
    assert!(
        upward.is_empty(),
        "arrows that do not point down the order {}:\n{}",
        rendered_order(),
        upward.join("\n")
    );
}

#[test]
fn the_order_is_the_one_readme_describes() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let order = rendered_order();
    assert!(
        readme.contains(&order),
        "README's ARCHITECTURE section should give the module order as:\n{order}"
    );
}

#[test]
fn research_and_citation_functions_stay_short() {
    let mut long = Vec::new();
    for (module, path) in library_files() {
        if !SHORT_FUNCTIONS.contains(&module.as_str()) {
            continue;
        }
        for (name, line, lines) in read(&path).functions {
            if lines > MAX_FN_LINES {
                long.push(format!("{}:{line}: {name} is {lines} lines", shown(&path)));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FN_LINES} lines; split them into named stages:\n{}",
        long.join("\n")
    );
}

/// The checker itself: an upward `use`, a grouped one, a path in code and a long function
/// are all seen, and unit-test code is not held to the order.
#[test]
fn the_reader_sees_every_kind_of_arrow() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sample.rs");
    let long_body = "    let _ = 1;\n".repeat(MAX_FN_LINES);
    std::fs::write(
        &path,
        format!(
            "use crate::serve::Thing;\nuse crate::{{db::Pool, text}};\nfn f() {{ crate::jobs::go(); }}\nfn long() {{\n{long_body}}}\n#[cfg(test)]\nmod tests {{ use crate::config::AppConfig; }}\n"
        ),
    )
    .unwrap();
    let reading = read(&path);
    let targets: Vec<&str> = reading.arrows.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(targets, ["serve", "db", "text", "jobs"]);
    assert_eq!(reading.arrows[3].0, 3, "line numbers are the file's");
    let long = reading.functions.iter().find(|f| f.0 == "long").unwrap();
    assert_eq!(long.2, MAX_FN_LINES + 2);
}
