"""RO-Crates (1.1, Process Run Crate profile 0.5): build, write, read, update."""
