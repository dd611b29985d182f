//! `hookwing codegen` and `hookwing new handler` against what users bring: every real Hasura
//! project's actions generate Rust that compiles, TypeScript that the TypeScript compiler
//! accepts under `--strict`, and Python that imports; a new guest crate builds into a
//! component that answers its action, and once filled in answers with real output; the Python
//! webhook skeleton answers Hookwing's calls.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::harness::{
    Backend, TestDb, TestServer, free_port, hasura_data, hasura_metadata_dir, login_action,
    login_types,
};

fn hookwing(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_hookwing-under-test"))
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run hookwing");
    assert!(
        output.status.success(),
        "hookwing {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where cargo builds the crates these tests generate: beside the workspace's own target
/// directory, kept between runs.
fn scratch_target() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repository().join("target"), PathBuf::from);
    target.join("generated-crates")
}

/// Runs cargo in `dir` with the workspace's lock file (so the generated crate builds with the
/// dependency versions this repository is tested with).
fn cargo(dir: &Path, args: &[&str]) {
    std::fs::copy(repository().join("Cargo.lock"), dir.join("Cargo.lock")).expect("lock file");
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", scratch_target())
        .output()
        .expect("run cargo");
    assert!(
        output.status.success(),
        "cargo {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_real_hasura_projects_actions_generate_code_that_compiles() {
    let Some(projects) = hasura_data("projects") else {
        return;
    };
    let mut dirs: Vec<(String, PathBuf)> = std::fs::read_dir(&projects)
        .expect("projects")
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            hasura_metadata_dir(&entry.path()).map(|dir| (name, dir))
        })
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 10, "{dirs:?}");
    let work = tempfile::tempdir().expect("tempdir");
    let crate_dir = work.path().join("all-projects");
    std::fs::create_dir_all(crate_dir.join("src")).expect("crate dir");
    let mut lib = String::new();
    let mut typescript = Vec::new();
    for (index, (name, dir)) in dirs.iter().enumerate() {
        let dir = dir.to_str().expect("UTF-8 path");
        let rust = hookwing(&["codegen", "--metadata-dir", dir, "--lang", "rust"]);
        std::fs::write(crate_dir.join(format!("src/p{index}.rs")), rust).expect("write");
        lib.push_str(&format!("/// {name}\npub mod p{index};\n"));

        let ts = work.path().join(format!("p{index}.ts"));
        hookwing(&[
            "codegen",
            "--metadata-dir",
            dir,
            "--lang",
            "typescript",
            "-o",
            ts.to_str().expect("path"),
        ]);
        typescript.push(ts);

        let py = work.path().join(format!("p{index}.py"));
        hookwing(&[
            "codegen",
            "--metadata-dir",
            dir,
            "--lang",
            "python",
            "-o",
            py.to_str().expect("path"),
        ]);
        let imported = Command::new("python3")
            .args(["-c", "import importlib.util, sys\nspec = importlib.util.spec_from_file_location('m', sys.argv[1])\nmodule = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(module)\nprint(len(module.HANDLERS))", py.to_str().expect("path")])
            .output()
            .expect("python3");
        assert!(
            imported.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&imported.stderr)
        );
    }
    std::fs::write(crate_dir.join("src/lib.rs"), lib).expect("lib.rs");
    std::fs::write(
        crate_dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"all-projects\"\nversion = \"0.1.0\"\nedition = \"2024\"\n[workspace]\n\
             [dependencies]\nhookwing-sdk = {{ path = {:?} }}\nserde = {{ version = \"1\", features = [\"derive\"] }}\nserde_json = \"1\"\n",
            repository().join("sdk").canonicalize().expect("sdk").display().to_string()
        ),
    )
    .expect("Cargo.toml");
    cargo(&crate_dir, &["build", "--quiet"]);

    let tsc = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/node_modules/.bin/tsc");
    assert!(tsc.exists(), "npm ci in tests/browser first");
    let checked = Command::new(&tsc)
        .args([
            "--noEmit",
            "--strict",
            "--target",
            "es2022",
            "--module",
            "nodenext",
            "--moduleResolution",
            "nodenext",
            "--typeRoots",
        ])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/node_modules/@types"))
        .args(&typescript)
        .output()
        .expect("tsc");
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );
}

/// `hookwing new handler login-handler --action userLogin` from the quick start's metadata,
/// under `work`; the metadata directory and the crate's.
fn new_login_crate(work: &Path) -> (PathBuf, PathBuf) {
    let metadata = repository().join("examples/quickstart/metadata");
    let dir = work.join("login-handler");
    let created = hookwing(&[
        "new",
        "handler",
        "login-handler",
        "--action",
        "userLogin",
        "--metadata-dir",
        metadata.to_str().expect("path"),
        "--dir",
        dir.to_str().expect("path"),
    ]);
    assert!(created.contains("src/lib.rs"), "{created}");
    (metadata, dir)
}

/// Writes `body` in place of the generated skeleton's rejection in the crate at `dir`;
/// returns the new `src/lib.rs`.
fn implement_login(dir: &Path, body: &str) -> String {
    let lib = dir.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).expect("lib.rs");
    let implemented = source.replace(
        "Err(ActionError::new(\"userLogin is not implemented yet\").with_code(\"not-implemented\"))",
        body,
    );
    assert_ne!(
        source, implemented,
        "the skeleton's body is where the test expects it"
    );
    std::fs::write(&lib, &implemented).expect("write lib.rs");
    implemented
}

/// `hookwing new handler` writes a crate that builds for wasm32-wasip2 and whose native test
/// passes; uploaded, it answers "not implemented"; with its body written, the real output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_handler_crate_builds_into_a_component_that_answers_its_action() {
    let work = tempfile::tempdir().expect("tempdir");
    let (metadata, dir) = new_login_crate(work.path());
    // Regenerating the types, as the guide says to when the action changes, writes the same.
    let types = std::fs::read_to_string(dir.join("src/types.rs")).expect("types.rs");
    let regenerated = hookwing(&[
        "codegen",
        "--action",
        "userLogin",
        "--types-only",
        "--metadata-dir",
        metadata.to_str().expect("path"),
    ]);
    assert_eq!(regenerated, types);
    cargo(&dir, &["test", "--quiet"]);
    cargo(
        &dir,
        &["build", "--quiet", "--release", "--target", "wasm32-wasip2"],
    );
    let wasm = scratch_target().join("wasm32-wasip2/release/login_handler.wasm");

    let db = TestDb::new(Backend::Sqlite).await;
    let server = TestServer::start(&db).await;
    let (status, body) = server
        .upload_handler("login", std::fs::read(&wasm).expect("wasm"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    server.metadata_ok(login_types()).await;
    server
        .metadata_ok(login_action("wasm://login", json!({})))
        .await;
    let login = r#"mutation { userLogin(username: "ada", password: "pw") { accessToken userId } }"#;
    let answer = server.graphql(login, json!({})).await;
    assert_eq!(
        answer["errors"][0]["message"], "userLogin is not implemented yet",
        "{answer}"
    );
    assert_eq!(answer["errors"][0]["extensions"]["code"], "not-implemented");

    // Written: the generated types carry the real output.
    implement_login(
        &dir,
        "Ok(Some(UserInfo { access_token: format!(\"token-for-{}\", input.username), user_id: 42 }))",
    );
    cargo(
        &dir,
        &["build", "--quiet", "--release", "--target", "wasm32-wasip2"],
    );
    server
        .upload_handler("login", std::fs::read(&wasm).expect("wasm"), None)
        .await;
    let answer = server.graphql(login, json!({})).await;
    assert_eq!(
        answer,
        json!({"data": {"userLogin": {"accessToken": "token-for-ada", "userId": 42}}})
    );
    server.stop().await;
}

/// The Python webhook skeleton, run as it is, answers Hookwing's calls in the contract's shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_webhook_skeleton_answers_hookwings_calls() {
    let work = tempfile::tempdir().expect("tempdir");
    let metadata = repository().join("examples/quickstart/metadata");
    let file = work.path().join("webhook.py");
    hookwing(&[
        "codegen",
        "--metadata-dir",
        metadata.to_str().expect("path"),
        "--lang",
        "python",
        "-o",
        file.to_str().expect("path"),
    ]);
    let port = free_port();
    let mut webhook = std::process::Command::new("python3")
        .arg(&file)
        .env("PORT", port.to_string())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3");
    let client = crate::harness::http_client();
    let mut up = false;
    for _ in 0..100 {
        if client
            .post(format!("http://127.0.0.1:{port}/"))
            .body("{}")
            .send()
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(up, "the webhook did not come up");

    let db = TestDb::new(Backend::Sqlite).await;
    let server = TestServer::start(&db).await;
    server.metadata_ok(login_types()).await;
    server
        .metadata_ok(login_action(
            &format!("http://127.0.0.1:{port}/"),
            json!({}),
        ))
        .await;
    let answer: Value = server
        .graphql(
            r#"mutation { userLogin(username: "ada", password: "pw") { accessToken } }"#,
            json!({}),
        )
        .await;
    let _ = webhook.kill();
    let _ = webhook.wait();
    assert_eq!(
        answer["errors"][0],
        json!({"message": "userLogin is not implemented yet", "extensions": {"code": "not-implemented"}}),
        "{answer}"
    );
    server.stop().await;
}

/// Lines of a running `hookwing dev`, read until one contains `needle` (within 3 minutes:
/// a line is a build).
async fn until_line(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    seen: &mut Vec<String>,
    needle: &str,
) {
    let deadline = std::time::Duration::from_secs(180);
    let found = tokio::time::timeout(deadline, async {
        while let Some(line) = lines.next_line().await.expect("dev output") {
            seen.push(line.clone());
            if line.contains(needle) {
                return true;
            }
        }
        false
    })
    .await;
    assert!(
        matches!(found, Ok(true)),
        "`{needle}` never came:\n{}",
        seen.join("\n")
    );
}

/// `hookwing dev` on a new crate: the first build is uploaded; an edit that implements the
/// handler is rebuilt, uploaded and replayed against the call that failed before, showing the
/// new output; an edit that breaks the build shows cargo's error and keeps watching.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dev_loop_rebuilds_uploads_and_replays_on_every_save() {
    use tokio::io::AsyncBufReadExt;

    let work = tempfile::tempdir().expect("tempdir");
    let (_, dir) = new_login_crate(work.path());
    std::fs::copy(repository().join("Cargo.lock"), dir.join("Cargo.lock")).expect("lock file");
    let db = TestDb::new(Backend::Sqlite).await;
    let server = TestServer::start(&db).await;
    let mut dev = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookwing-under-test"))
        .args([
            "dev",
            dir.to_str().expect("path"),
            "--name",
            "login",
            "--server",
            &server.url,
        ])
        // A target dir of its own: another test builds a crate of the same name, and cargo
        // puts each build's component at the same path of a shared one.
        .env("CARGO_TARGET_DIR", scratch_target().join("dev-loop"))
        .env_remove("HOOKWING_ADMIN_SECRET")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("hookwing dev");
    let mut lines = tokio::io::BufReader::new(dev.stdout.take().expect("stdout")).lines();
    let mut seen = Vec::new();
    until_line(&mut lines, &mut seen, "no action uses wasm://login yet").await;
    until_line(&mut lines, &mut seen, "watching").await;

    server.metadata_ok(login_types()).await;
    server
        .metadata_ok(login_action("wasm://login", json!({})))
        .await;
    let login = r#"mutation { userLogin(username: "ada", password: "pw") { accessToken userId } }"#;
    let answer = server.graphql(login, json!({})).await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "not-implemented",
        "{answer}"
    );

    // Save an implementation: rebuilt, uploaded, and the failed call replayed against it.
    let implemented = implement_login(
        &dir,
        "Ok(Some(UserInfo { access_token: format!(\"dev-{}\", input.username), user_id: 7 }))",
    );
    until_line(
        &mut lines,
        &mut seen,
        "different (stored error, now success)",
    )
    .await;
    until_line(&mut lines, &mut seen, "\"accessToken\":\"dev-ada\"").await;
    let answer = server.graphql(login, json!({})).await;
    assert_eq!(
        answer,
        json!({"data": {"userLogin": {"accessToken": "dev-ada", "userId": 7}}}),
        "the new version is the active one"
    );

    // A broken save: cargo's error is shown and the loop waits for the next change.
    std::fs::write(
        dir.join("src/lib.rs"),
        implemented.replace("user_id: 7", "user_id: \"seven\""),
    )
    .expect("write");
    until_line(&mut lines, &mut seen, "mismatched types").await;
    until_line(
        &mut lines,
        &mut seen,
        "the build failed; waiting for the next change",
    )
    .await;
    let _ = dev.kill().await;
    server.stop().await;
}
