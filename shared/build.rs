// refinery embeds migrations/ at compile time; tell cargo to rebuild when a migration changes.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
