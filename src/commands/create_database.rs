//! `dra create-database`: create the application database if it is missing.

use std::process::ExitCode;

use anyhow::Context as _;
use dra::db::admin::{self, Created};

use super::Context;
use crate::cli::CreateDatabaseArgs;

pub async fn run(ctx: &Context, args: CreateDatabaseArgs) -> anyhow::Result<ExitCode> {
    let base = ctx.target(&args.target).await?;
    let database = ctx.database_name(
        args.database.as_deref(),
        &base,
        args.target.instance.is_some(),
    );
    // `postgres` always exists; the target database may not.
    let maintenance = base.with_database("postgres");
    let mut conn = maintenance.connect().await?;
    let created = admin::create_database(&mut conn, &database)
        .await
        .with_context(|| {
            format!(
                "could not create database \"{database}\" as `{}` on {}:{} (the role needs CREATEDB; on Lakebase, a workspace admin or a member of databricks_superuser can create it, or create it once yourself and re-run)",
                base.user, base.host, base.port
            )
        })?;
    match created {
        Created::Created => println!(
            "database \"{database}\" created on {}:{}",
            base.host, base.port
        ),
        Created::AlreadyExists => println!(
            "database \"{database}\" already exists on {}:{}",
            base.host, base.port
        ),
    }
    Ok(ExitCode::SUCCESS)
}
