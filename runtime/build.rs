//! Release builds embed GraphiQL and the console from `console/dist` (built with npm); their
//! file names change with their content, so a release build must run again whenever that
//! folder does. Debug builds read the folder at run time and need nothing.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("PROFILE").as_deref() != Ok("release") {
        return;
    }
    if std::path::Path::new("console/dist").exists() {
        println!("cargo:rerun-if-changed=console/dist");
    } else {
        // Until it is built: `npm run build` creates it inside this folder.
        println!("cargo:rerun-if-changed=console");
    }
}
