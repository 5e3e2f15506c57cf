//! The desktop's declared trust boundary, checked where it is declared: the CSP in
//! `tauri.conf.json` allows nothing but the app's own files and its IPC, the prototype is frozen,
//! and the main window's capability grants exactly the shell's one command, the same one the
//! build script declares in the app manifest (which makes every other command refused).

use serde_json::Value;

fn read_json(path: &str) -> Value {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    serde_json::from_str(&std::fs::read_to_string(&full).unwrap()).unwrap()
}

#[test]
fn the_csp_allows_only_the_app_itself_and_its_ipc() {
    let config = read_json("../tauri.conf.json");
    let security = &config["app"]["security"];
    assert_eq!(security["freezePrototype"], Value::Bool(true));
    let csp = security["csp"].as_str().expect("a CSP string, not null");
    let directives: Vec<(&str, Vec<&str>)> = csp
        .split(';')
        .map(|d| {
            let mut words = d.split_whitespace();
            (words.next().unwrap_or(""), words.collect())
        })
        .collect();
    let sources = |name: &str| {
        directives
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| panic!("the CSP has no {name}"))
    };
    assert_eq!(sources("default-src"), ["'self'"]);
    assert_eq!(sources("script-src"), ["'self'", "'wasm-unsafe-eval'"]);
    assert_eq!(sources("object-src"), ["'none'"]);
    assert_eq!(sources("base-uri"), ["'none'"]);
    for (name, list) in &directives {
        for source in list {
            assert!(
                !source.starts_with("https:")
                    && !source.starts_with("http:")
                    && *source != "*"
                    && *source != "'unsafe-eval'"
                    || *source == "http://ipc.localhost",
                "{name} allows {source}"
            );
        }
    }
    assert_eq!(config["app"]["windows"][0]["label"], "main");
}

#[test]
fn the_main_window_may_call_the_one_command_and_nothing_else() {
    let capability = read_json("capabilities/main.json");
    assert_eq!(capability["windows"], serde_json::json!(["main"]));
    assert_eq!(
        capability["permissions"],
        serde_json::json!([format!("allow-{}", atb_protocol::rpc::COMMAND)])
    );
    let entries: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/capabilities"))
        .unwrap()
        .collect();
    assert_eq!(entries.len(), 1, "one capability file, for the main window");
    let build = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/build.rs")).unwrap();
    assert!(
        build.contains(&format!(
            "AppManifest::new().commands(&[\"{}\"])",
            atb_protocol::rpc::COMMAND
        )),
        "build.rs declares the app's commands as exactly the shell's one command"
    );
}
