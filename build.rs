// Rebuild when a migration is added, so `embed_migrations!` never embeds a stale list.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
