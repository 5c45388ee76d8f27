import HealCore

/// `fstab-unresolvable-source`, first choice: the line meant a filesystem that is there
/// under a slightly different name (a label typo, a disk reformatted with a new UUID). The
/// source is re-pointed to it by the rule of `SourceMatch`; every other byte of fstab stays.
struct FstabRepointSourceStrategy: PlanFirstStrategy {
    let descriptor = StrategyDescriptor(
        id: "fstab-repoint-source",
        title: "Re-point an fstab source to the unique filesystem it most likely meant",
        classes: [.fstabUnresolvableSource],
        risk: 3,
        sideEffects: "the line mounts a filesystem chosen by a near label/UUID or as the only unclaimed one of its type; if that guess is wrong the mount shows other data (never chosen when two filesystems fit equally)",
        priorEffectiveness: 0.85,
        estimatedSeconds: 10)

    func decide(_ context: RepairContext) throws(PlanError) -> [RepairOperation] {
        let survey = try FstabSurvey.load(context, strategy: descriptor.id)
        let lines = try FstabSourceLines.offending(survey, strategy: descriptor.id, action: "re-pointing")
        // A loop device this machine has attached now is not a disk the examined system
        // boots with (it is gone at the next boot), unless it reads one of the system's own
        // images: never a candidate for a line the boot mounts.
        let images = Set(survey.devices.devices.filter(\.isExtra).map(\.path))
        let candidates = survey.devices.devices.compactMap { device -> SourceMatch.Candidate? in
            guard device.problem == nil, let type = device.info.type,
                  device.info.usage == "filesystem" || type == "swap" else { return nil }
            if !device.isExtra, let loop = LoopDevice(node: device.path), !images.contains(loop.backingFile) { return nil }
            return SourceMatch.Candidate(id: device.path, type: type, label: device.info.label, uuid: device.info.uuid,
                                         partLabel: device.info.values["PART_ENTRY_NAME"],
                                         partUUID: device.info.values["PART_ENTRY_UUID"])
        }
        // Filesystems other lines mount are taken: two lines on one filesystem is no repair.
        var claimed = Set(survey.fstab.entries.compactMap { entry in
            FstabDetector.resolve(entry.source, devices: survey.devices, root: context.root)?.path
        })
        var bytes = survey.bytes
        for entry in lines {
            let tag = BlockDevices.parseTag(entry.source)
            let kind = tag.map(\.name).flatMap { ["LABEL", "UUID", "PARTLABEL", "PARTUUID"].contains($0) ? $0 : nil }
            guard let match = SourceMatch.best(tag: kind, value: tag?.value ?? entry.source, type: entry.fstype,
                                               among: candidates, claimed: claimed) else {
                throw refuse("no unique \(entry.fstype) filesystem matches \(entry.source) (/etc/fstab line \(entry.line), \(entry.target)) among \(candidates.count) probed")
            }
            claimed.insert(match.candidate.id)
            let source: String
            switch (kind, match.reason) {
            case ("LABEL", .nearValue(_, let found, _)): source = "LABEL=" + found
            case ("PARTLABEL", .nearValue(_, let found, _)): source = "PARTLABEL=" + found
            case ("PARTUUID", .nearValue(_, let found, _)): source = "PARTUUID=" + found
            default:
                guard let uuid = match.candidate.uuid else {
                    throw refuse("\(match.candidate.id), the match for \(entry.source), has no UUID to name it by")
                }
                source = "UUID=" + uuid
            }
            context.logger.info("fstab source re-pointed", metadata: [
                "line": "\(entry.line)", "from": "\(entry.source)", "to": "\(source)", "why": "\(match.reason)"])
            do throws(FstabEdit.Error) {
                bytes = try FstabEdit.replacing(.source, with: source, line: entry.line, in: bytes)
            } catch {
                throw refuse("\(error)")
            }
        }
        return [survey.write(bytes)]
    }
}

/// `fstab-unresolvable-source`, second choice: the boot stops waiting for the device.
/// `nofail` lets local-fs.target succeed without the mount; the 10 s device timeout
/// replaces systemd's 90 s wait.
struct FstabAddNofailStrategy: PlanFirstStrategy {
    static let options = ["nofail", "x-systemd.device-timeout=10s"]

    let descriptor = StrategyDescriptor(
        id: "fstab-add-nofail",
        title: "Let the boot continue without a mount whose device is missing (nofail)",
        classes: [.fstabUnresolvableSource],
        risk: 2,
        sideEffects: "the system boots without the mount; whatever expects files there finds the empty mount point, and each boot waits 10 s for the device",
        priorEffectiveness: 0.8,
        estimatedSeconds: 5)

    func decide(_ context: RepairContext) throws(PlanError) -> [RepairOperation] {
        let survey = try FstabSurvey.load(context, strategy: descriptor.id)
        let lines = try FstabSourceLines.offending(survey, strategy: descriptor.id, action: "nofail")
        var bytes = survey.bytes
        for entry in lines {
            do throws(FstabEdit.Error) {
                bytes = try FstabEdit.addingOptions(Self.options, line: entry.line, in: bytes)
            } catch {
                throw refuse("\(error)")
            }
        }
        return [survey.write(bytes)]
    }
}

/// Both fstab classes, last choice: the offending lines become comments, each after a
/// `# clarity-heal:` note saying why, so a person can put them back.
struct FstabCommentOutStrategy: PlanFirstStrategy {
    let descriptor = StrategyDescriptor(
        id: "fstab-comment-out",
        title: "Comment out the fstab lines that stop the boot",
        classes: [.fstabUnresolvableSource, .fstabInvalidEntry],
        risk: 4,
        sideEffects: "the mounts on those lines are gone until a person restores them (the line stays in fstab behind '#', after a clarity-heal note)",
        priorEffectiveness: 0.7,
        estimatedSeconds: 5)

    func decide(_ context: RepairContext) throws(PlanError) -> [RepairOperation] {
        let survey = try FstabSurvey.load(context, strategy: descriptor.id)
        var reasons: [Int: String] = [:]
        if context.finding.failureClass == .fstabUnresolvableSource {
            for entry in try FstabSourceLines.offending(survey, strategy: descriptor.id, action: "commenting out") {
                reasons[entry.line] = "\(entry.source) names no block device"
            }
        } else {
            for (entry, detected) in survey.typeMismatches {
                reasons[entry.line] = "type \(entry.fstype) does not match the on-disk \(detected)"
            }
            for (line, reason) in survey.otherInvalid { reasons[line] = reasons[line] ?? reason }
            guard !reasons.isEmpty else { throw refuse("/etc/fstab has no invalid line") }
            for line in reasons.keys.sorted() {
                if let target = survey.mountPoint(line: line), essentialMountPoints.contains(target) {
                    throw refuse("/etc/fstab line \(line) mounts \(target): without it the system cannot come up as written")
                }
            }
        }
        var bytes = survey.bytes
        // Last line first: the note inserted before a line shifts only the lines after it.
        for line in reasons.keys.sorted(by: >) {
            guard let reason = reasons[line] else { continue }
            do throws(FstabEdit.Error) {
                bytes = try FstabEdit.commentingOut(line: line, note: "\(descriptor.id): \(reason)", in: bytes)
            } catch {
                throw refuse("\(error)")
            }
        }
        return [survey.write(bytes)]
    }
}

/// The lines the `fstab-unresolvable-source` strategies act on.
enum FstabSourceLines {
    /// Every unresolvable line, refusing when one of them is an essential mount: re-pointing
    /// `/` is `root-device-mismatch` work, and `nofail` on `/` is meaningless.
    static func offending(_ survey: FstabSurvey, strategy: String, action: String) throws(PlanError) -> [Fstab.Entry] {
        guard !survey.unresolvable.isEmpty else {
            throw PlanError(strategy: strategy, reason: "every mount the boot waits for names an existing device")
        }
        if let essential = survey.unresolvable.first(where: { essentialMountPoints.contains($0.target) }) {
            throw PlanError(strategy: strategy, reason:
                "/etc/fstab line \(essential.line) mounts \(essential.target): \(action) it cannot help; the root filesystem is root-device work")
        }
        return survey.unresolvable
    }
}
