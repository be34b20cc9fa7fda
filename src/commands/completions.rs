//! `dra completions <shell>`.

use clap::CommandFactory;

use crate::cli::Cli;

pub fn run(shell: clap_complete::Shell) {
    clap_complete::generate(shell, &mut Cli::command(), "dra", &mut std::io::stdout());
}
