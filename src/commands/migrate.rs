//! `dra migrate`: apply, list or revert the embedded schema migrations.

use std::process::ExitCode;

use dra::db::migrations;

use super::Context;
use crate::cli::{MigrateAction, MigrateArgs};

pub async fn run(ctx: &Context, args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let base = ctx.target(&args.target).await?;
    let database = ctx.database_name(
        args.database.as_deref(),
        &base,
        args.target.instance.is_some(),
    );
    let target = base.with_database(&database);
    let conn = target.connect().await?;

    if args.status {
        let states = migrations::status(conn).await?;
        let pending = states.iter().filter(|s| !s.applied).count();
        println!("migrations for {target}:");
        for s in &states {
            println!("  [{}] {}", if s.applied { "x" } else { " " }, s.name);
        }
        println!("{} applied, {pending} pending", states.len() - pending);
        return Ok(ExitCode::SUCCESS);
    }

    match args.action {
        Some(MigrateAction::Revert { steps }) => {
            let reverted = migrations::revert(conn, steps as usize).await?;
            if reverted.is_empty() {
                println!("nothing to revert in {target}");
            }
            for name in reverted {
                println!("reverted {name}");
            }
        }
        None => {
            let applied = migrations::run_pending(conn).await?;
            if applied.is_empty() {
                println!("{target}: schema is up to date");
            }
            for name in &applied {
                println!("applied {name}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
