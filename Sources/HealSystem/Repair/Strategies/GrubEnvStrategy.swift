import HealCore

/// `bootloader-env-corrupt`: every grubenv that does not parse is rewritten as a valid
/// 1024-byte block holding the variables that could still be read (`GrubEnvBlock.salvage`:
/// GRUB's own reading rule, first occurrence wins).
///
/// The plan ends with `grub-editenv FILE list` run in the sandbox: the clone's own GRUB
/// userspace — the version whose `save_env` will rewrite the block at boot — must read the
/// new block, or the operation (and with it the strategy) fails. It runs there rather than
/// on the host because the host's GRUB may be another version, and a clone without
/// grub-editenv has no GRUB to disagree with: the step is then left out.
struct GrubEnvRewriteStrategy: PlanFirstStrategy {
    let descriptor = StrategyDescriptor(
        id: "grubenv-rewrite",
        title: "Rewrite grubenv as a valid 1024-byte block, keeping the readable variables",
        classes: [.bootloaderEnvCorrupt],
        risk: 2,
        sideEffects: "variables on damaged lines are lost (a saved default, a one-time next_entry, boot counters), so GRUB may boot its first entry once",
        priorEffectiveness: 0.9,
        estimatedSeconds: 5)

    static let editenv = ["/usr/bin/grub-editenv", "/usr/bin/grub2-editenv"]

    func decide(_ context: RepairContext) throws(PlanError) -> [RepairOperation] {
        var operations: [RepairOperation] = []
        var checks: [RepairOperation] = []
        let tool = Self.editenv.first { context.root.files.statusIfPresent(context.root.canonical($0), followLast: true) != nil }
        for path in BootConfiguration.grubDirectories.map({ $0 + "/grubenv" }) {
            guard context.root.files.exists(path) else { continue }
            let bytes: [UInt8]
            do {
                bytes = try context.root.files.read(path, limit: 1 << 20)
            } catch {
                // Unreadable (a directory, no permission): a fresh block replaces it.
                context.logger.notice("grubenv unreadable", metadata: ["path": "\(path)", "error": "\(error)"])
                bytes = []
            }
            if (try? GrubEnvBlock(parsing: bytes)) != nil { continue }
            let salvaged = GrubEnvBlock.salvage(bytes)
            let block: [UInt8]
            do throws(GrubEnvBlock.Error) {
                block = try salvaged.block.serialized()
            } catch {
                throw refuse("cannot rebuild \(path): \(error)")
            }
            context.logger.info("grubenv rebuilt", metadata: [
                "path": "\(path)", "kept": "\(salvaged.block.variables.map(\.name).joined(separator: ","))"])
            operations.append(.writeFile(path: path, contents: block, mode: 0o644))
            if let tool { checks.append(.runTool(arguments: [tool, path, "list"], mayChange: [])) }
        }
        guard !operations.isEmpty else { throw refuse("every grubenv is a valid block") }
        return operations + checks
    }
}
