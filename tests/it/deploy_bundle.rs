//! The deployment files agree with each other and with the configuration the app runs
//! with: databricks.yml grants every serving endpoint config/app.yaml names, and app.yaml's
//! environment points at the bundle's Lakebase instance, database and secret resource.

use std::collections::BTreeSet;
use std::path::Path;

use dra::config::{load_str, Env};
use yaml_serde::Value;

fn read_yaml(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{name} is not YAML: {e}"))
}

fn bundle() -> Value {
    read_yaml("databricks.yml")
}

fn app_resources(bundle: &Value) -> Vec<Value> {
    bundle["resources"]["apps"]["deep_research_agent"]["resources"]
        .as_sequence()
        .expect("the app's resources")
        .clone()
}

fn resource<'a>(resources: &'a [Value], name: &str) -> &'a Value {
    resources
        .iter()
        .find(|r| r["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no app resource named {name}"))
}

fn default_of(bundle: &Value, variable: &str) -> String {
    bundle["variables"][variable]["default"]
        .as_str()
        .unwrap_or_else(|| panic!("variable {variable} has no default"))
        .to_string()
}

#[test]
fn the_bundle_has_the_seeds_variables_resources_and_targets() {
    let b = bundle();
    for v in [
        "app_name",
        "lakebase_instance_name",
        "lakebase_database",
        "lakebase_capacity",
        "brave_secret_scope",
        "resource_suffix",
    ] {
        assert!(b["variables"][v].is_mapping(), "variable {v} is missing");
    }
    let instance = &b["resources"]["database_instances"]["deep_research_lakebase"];
    assert_eq!(
        instance["name"].as_str(),
        Some("${var.lakebase_instance_name}")
    );
    assert_eq!(
        instance["capacity"].as_str(),
        Some("${var.lakebase_capacity}")
    );

    let app = &b["resources"]["apps"]["deep_research_agent"];
    assert_eq!(
        app["name"].as_str(),
        Some("${var.app_name}-${var.resource_suffix}")
    );
    let resources = app_resources(&b);
    let secret = &resource(&resources, "brave-api-key")["secret"];
    assert_eq!(secret["scope"].as_str(), Some("${var.brave_secret_scope}"));
    assert_eq!(secret["permission"].as_str(), Some("READ"));
    let database = &resource(&resources, "database")["database"];
    assert_eq!(
        database["database_name"].as_str(),
        Some("${var.lakebase_database}")
    );
    assert_eq!(
        database["instance_name"].as_str(),
        Some("${resources.database_instances.deep_research_lakebase.name}")
    );
    assert_eq!(
        database["permission"].as_str(),
        Some("CAN_CONNECT_AND_CREATE")
    );

    assert_eq!(
        b["targets"]["dev"]["mode"].as_str(),
        Some("development"),
        "dev deploys in development mode"
    );
    assert!(b["targets"]["prod"].is_mapping(), "a prod target");
}

#[test]
fn every_endpoint_the_config_names_is_granted_and_nothing_else() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/app.yaml"))
            .unwrap();
    let config = load_str(&text, Path::new("config/app.yaml"), &Env::new())
        .unwrap()
        .config;
    let mut named: BTreeSet<String> = config
        .endpoints
        .values()
        .map(|e| e.endpoint_identifier.clone())
        .collect();
    if let Some(embeddings) = &config.embeddings.endpoint_identifier {
        named.insert(embeddings.clone());
    }
    assert!(named.len() >= 2, "{named:?}");

    let granted: BTreeSet<String> = app_resources(&bundle())
        .iter()
        .filter_map(|r| r.get("serving_endpoint"))
        .map(|e| {
            assert_eq!(
                e["permission"].as_str(),
                Some("CAN_QUERY"),
                "{e:?} must be queryable"
            );
            e["name"].as_str().unwrap().to_string()
        })
        .collect();
    let missing: Vec<_> = named.difference(&granted).collect();
    let extra: Vec<_> = granted.difference(&named).collect();
    assert!(
        missing.is_empty(),
        "config/app.yaml names endpoints the app may not query: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "databricks.yml grants endpoints the config never uses: {extra:?}"
    );
}

#[test]
fn app_yaml_starts_dra_serve_with_the_bundles_database_and_secret() {
    let app = read_yaml("app.yaml");
    let command: Vec<&str> = app["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(command.last(), Some(&"serve"), "{command:?}");

    let env: Vec<&Value> = app["env"].as_sequence().unwrap().iter().collect();
    let value = |name: &str| -> Option<String> {
        env.iter()
            .find(|e| e["name"].as_str() == Some(name))
            .and_then(|e| e["value"].as_str())
            .map(str::to_string)
    };
    for name in [
        "MLFLOW_TRACKING_URI",
        "MLFLOW_EXPERIMENT_NAME",
        "SERVE_STATIC",
        "APP_ENV",
        "APP_CONFIG_PATH",
    ] {
        assert!(value(name).is_some(), "app.yaml sets no {name}");
    }
    assert_eq!(value("APP_ENV").as_deref(), Some("production"));
    assert_eq!(value("SERVE_STATIC").as_deref(), Some("true"));
    let config_path = value("APP_CONFIG_PATH").unwrap();
    assert!(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(&config_path)
            .is_file(),
        "APP_CONFIG_PATH {config_path} is not a file of the app"
    );

    let b = bundle();
    assert_eq!(
        value("LAKEBASE_INSTANCE_NAME"),
        Some(default_of(&b, "lakebase_instance_name"))
    );
    assert_eq!(
        value("LAKEBASE_DATABASE"),
        Some(default_of(&b, "lakebase_database"))
    );
    let brave = env
        .iter()
        .find(|e| e["name"].as_str() == Some("BRAVE_API_KEY"))
        .expect("BRAVE_API_KEY");
    assert!(
        brave.get("value").is_none(),
        "the key never sits in app.yaml"
    );
    let from = brave["valueFrom"].as_str().unwrap();
    let resources = app_resources(&b);
    assert!(
        resource(&resources, from).get("secret").is_some(),
        "BRAVE_API_KEY comes from the secret resource"
    );
}

#[test]
fn the_app_bundle_has_only_small_files_and_its_start_script_runs_dra() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().unwrap();
    let bundle = out.path().join("app");
    let built = std::process::Command::new("bash")
        .arg(root.join("scripts/build-bundle.sh"))
        .env("BUNDLE_DIR", &bundle)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "make build failed: {}",
        String::from_utf8_lossy(&built.stderr)
    );

    // Apps refuse files over 10 MB; the bundle is the binary's parts, the start script,
    // app.yaml and config/, nothing else.
    let mut files = Vec::new();
    let mut dirs = vec![bundle.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                dirs.push(entry.path());
            } else {
                let size = entry.metadata().unwrap().len();
                assert!(
                    size <= 10_000_000,
                    "{} is {size} bytes",
                    entry.path().display()
                );
                files.push(
                    entry
                        .path()
                        .strip_prefix(&bundle)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    files.sort();
    assert!(files.contains(&"app.yaml".to_string()), "{files:?}");
    assert!(files.contains(&"config/app.yaml".to_string()), "{files:?}");
    assert!(files.contains(&"bin/start.sh".to_string()), "{files:?}");
    assert!(
        files
            .iter()
            .all(|f| f == "app.yaml" || f == "config/app.yaml" || f.starts_with("bin/")),
        "only the app's files: {files:?}"
    );
    assert!(files.iter().any(|f| f.starts_with("bin/dra.gz.part-")));

    // What app.yaml's command runs: the reassembled binary, static, on this machine.
    let bin_dir = tempfile::tempdir().unwrap();
    let version = std::process::Command::new("sh")
        .arg(bundle.join("bin/start.sh"))
        .arg("--version")
        .env("DRA_BIN_DIR", bin_dir.path())
        .output()
        .unwrap();
    assert!(version.status.success(), "{version:?}");
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("dra {}", env!("CARGO_PKG_VERSION"))
    );
}

/// `bundle deploy` uploads the app bundle and nothing of the sources: every top-level entry
/// the repository tracks (but databricks.yml) is excluded, build/app is included.
#[test]
fn the_bundle_uploads_only_the_app_bundle() {
    let b = bundle();
    let list = |key: &str| -> Vec<String> {
        b["sync"][key]
            .as_sequence()
            .unwrap_or_else(|| panic!("sync.{key}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(list("include"), ["build/app/**"]);
    let exclude = list("exclude");
    let tracked = std::process::Command::new("git")
        .args(["ls-files"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("git ls-files");
    assert!(tracked.status.success());
    let top: BTreeSet<String> = String::from_utf8_lossy(&tracked.stdout)
        .lines()
        .map(|p| match p.split_once('/') {
            Some((dir, _)) => format!("/{dir}/**"),
            None => format!("/{p}"),
        })
        .collect();
    let uploaded: Vec<&String> = top
        .iter()
        .filter(|e| e.as_str() != "/databricks.yml" && !exclude.contains(e))
        .collect();
    assert!(
        uploaded.is_empty(),
        "bundle deploy would upload {uploaded:?}: add them to sync.exclude in databricks.yml"
    );
    // Unanchored patterns match at any depth: `app.yaml` would drop build/app/app.yaml.
    for e in &exclude {
        assert!(e.starts_with('/'), "sync.exclude {e} is not anchored");
        assert!(
            !(e == "/build" || e.starts_with("/build/") || e.starts_with("/*")),
            "sync.exclude {e} drops the app bundle"
        );
    }
}
