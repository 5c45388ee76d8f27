import Foundation
import HealCore
import Testing
import TestSupport

/// clarity-fleet's Debian package (`scripts/package-fleet`), built from the debug binary: what
/// it holds and depends on, its units as systemd 252 reads them, both packages installed
/// into a copy of the test root with dpkg (the timer enabled, the drop-in where systemd reads
/// clarity-heal-verify.service's), and that copy booted in systemd-nspawn: unenrolled, the
/// timer's agent does nothing and verify's pull fails harmlessly; enrolled with the fleet
/// service running on the same machine (its own unit: a dynamic user, the tokens as
/// credentials, the admin token given as the unit's comment says), verify pulls first and
/// the timer catches up the missed day with submit and pull under the unit's sandbox; a
/// submit that fails does not stop the pull; purge removes what the agent and the service
/// kept.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct FleetPackageTests {
    static let unitFolder = "/usr/lib/systemd/system"
    static let units = ["clarity-fleet-agent.service", "clarity-fleet-agent.timer", "clarity-fleet.service"]
    static let dropIn = unitFolder + "/clarity-heal-verify.service.d/clarity-fleet.conf"
    static let stamp = "/var/lib/systemd/timers/stamp-clarity-fleet-agent.timer"

    /// The package, built once for the suite into a folder of its own: the same folder each
    /// run, emptied first, so runs leave one package behind and not one each.
    static let store: String = {
        let folder = TestRoot.repository + "/.cache/tmp/fleet-package"
        try? FileManager.default.removeItem(atPath: folder)
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch { fatalError("\(error)") }
        return folder
    }()
    static let built: Result<String, Tool.Failure> = {
        let manual = TestRoot.repository + "/.build/debug/generate-manual"
        guard FileManager.default.isExecutableFile(atPath: manual) else {
            return .failure(Tool.Failure(message: "\(manual) is not built (scripts/package builds it)"))
        }
        // xz at level 0: the debug binary is 87 MB, and level 6 takes 50 s here.
        let run: Tool.Result
        do {
            run = try Tool.run("/usr/bin/env", ["CLARITY_FLEET_BINARY=" + Tool.clarityFleet, "GENERATE_MANUAL=" + manual,
                                                "DPKG_DEB_COMPRESSOR_LEVEL=0",
                                                TestRoot.repository + "/scripts/package-fleet", store])
        } catch {
            return .failure(Tool.Failure(message: "\(error)"))
        }
        let deb = run.stdout.split(separator: "\n").last.map(String.init) ?? ""
        guard run.status == 0, deb.hasSuffix(".deb"), FileManager.default.fileExists(atPath: deb) else {
            return .failure(Tool.Failure(message: "scripts/package-fleet: \(run.status)\n\(run.stdout)\n\(run.stderr)"))
        }
        return .success(deb)
    }()

    static func deb() throws -> String { try built.get() }

    /// `key=value` settings of `section` in a unit file's text, in order (a key may repeat).
    static func settings(_ text: String, _ section: String) -> [(key: String, value: String)] {
        var current = "", found: [(key: String, value: String)] = []
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") { current = line; continue }
            guard current == "[\(section)]", let equals = line.firstIndex(of: "=") else { continue }
            found.append((String(line[..<equals]), String(line[line.index(after: equals)...])))
        }
        return found
    }

    static func values(_ text: String, _ section: String, _ key: String) -> [String] {
        settings(text, section).filter { $0.key == key }.map(\.value)
    }

    static func chroot(_ root: String, _ arguments: [String]) throws -> Tool.Result {
        try Tool.run("/usr/sbin/chroot", [root, "/usr/bin/env", "DEBIAN_FRONTEND=noninteractive", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
                     + arguments)
    }

    /// A copy of the test root with clarity-heal's package (scripts/package) and this one
    /// installed by the root's own dpkg.
    static func installedCopy() throws -> OverlayCopy {
        try #require(TestRoot.isBuilt, "scripts/make-test-root has not run")
        let heal = try #require(GrubDisk.package, "scripts/package has not run")
        let fleet = try deb()
        let copy = try TestRoot.writableCopy()
        // The initramfs the clarity-heal package rebuilds is PackageTests' subject (and a
        // minute's work): not rebuilt here.
        let conf = copy.at("/etc/initramfs-tools/update-initramfs.conf")
        let text = try String(contentsOfFile: conf, encoding: .utf8)
        try text.replacingOccurrences(of: "update_initramfs=yes", with: "update_initramfs=no")
            .write(toFile: conf, atomically: true, encoding: .utf8)
        for file in [heal, fleet] {
            #expect(try Tool.run("/bin/cp", [file, copy.at("/root/")]).status == 0)
        }
        let install = try chroot(copy.path, ["dpkg", "-i", "/root/" + (heal as NSString).lastPathComponent,
                                             "/root/" + (fleet as NSString).lastPathComponent])
        #expect(install.status == 0, "\(install.stdout)\n\(install.stderr)")
        #expect(!install.stderr.contains("clarity-fleet: warning"), "\(install.stderr)")
        return copy
    }

    // MARK: the package

    @Test func theDebHoldsTheBinaryTheUnitsAndTheDropInAndDependsOnClarityHeal() throws {
        let deb = try Self.deb()
        #expect((deb as NSString).lastPathComponent == "clarity-fleet_\(Product.version)_amd64.deb")

        let listing = try Tool.run("/usr/bin/dpkg-deb", ["-c", deb])
        #expect(listing.status == 0, "\(listing.stderr)")
        let entries = listing.stdout.split(separator: "\n").map(String.init)
        func entry(_ path: String) -> String? { entries.first { $0.hasSuffix(" ." + path) } }
        #expect(entry("/usr/bin/clarity-fleet")?.hasPrefix("-rwxr-xr-x root/root") == true, "\(listing.stdout)")
        for path in Self.units.map({ Self.unitFolder + "/" + $0 }) + [Self.dropIn] {
            #expect(entry(path)?.hasPrefix("-rw-r--r-- root/root") == true, "\(path) in\n\(listing.stdout)")
        }
        for path in ["/usr/share/doc/clarity-fleet/copyright", "/usr/share/man/man8/clarity-fleet.8.gz",
                     "/usr/share/bash-completion/completions/clarity-fleet", "/usr/share/zsh/vendor-completions/_clarity-fleet",
                     "/usr/share/fish/vendor_completions.d/clarity-fleet.fish"] {
            #expect(entry(path) != nil, "\(path) in\n\(listing.stdout)")
        }
        // Nothing of clarity-heal's own and nothing in /etc: the units' configuration is
        // the site's (systemctl edit), the token its file.
        #expect(!entries.contains { $0.contains(" ./etc/") || $0.contains("/usr/sbin/clarity-heal") }, "\(listing.stdout)")

        let fields = try Tool.run("/usr/bin/dpkg-deb", ["-f", deb, "Package", "Version", "Architecture", "Depends"])
        #expect(fields.status == 0, "\(fields.stderr)")
        #expect(fields.stdout.contains("Package: clarity-fleet\n") && fields.stdout.contains("Version: \(Product.version)\n")
                && fields.stdout.contains("Architecture: amd64\n"), "\(fields.stdout)")
        let depends = fields.stdout.split(separator: "\n").first { $0.hasPrefix("Depends: ") }
            .map { $0.dropFirst("Depends: ".count).components(separatedBy: ", ") } ?? []
        // The drop-in extends clarity-heal's unit and the agent reads its ledger: the same build.
        #expect(depends.contains("clarity-heal (= \(Product.version))"), "\(depends)")
        // The libraries the binary names (ldd of the debug build: these and the toolchain's
        // Swift runtime), as Debian 12 packages them.
        for package in ["libc6 (>= 2.", "libstdc++6 (>= 12)", "libgcc-s1 (>= 3.3.1)", "zlib1g (>= 1:1.1.4)"] {
            #expect(depends.contains { $0.hasPrefix(package) }, "\(package) in \(depends)")
        }

        // The maintainer scripts: shell that parses; postinst enables the timer, never the service.
        let control = Self.store + "/control"
        try? FileManager.default.removeItem(atPath: control)
        #expect(try Tool.run("/usr/bin/dpkg-deb", ["-e", deb, control]).status == 0)
        for script in ["postinst", "prerm", "postrm"] {
            #expect(FileManager.default.isExecutableFile(atPath: control + "/" + script), "\(script)")
            let syntax = try Tool.run("/bin/sh", ["-n", control + "/" + script])
            #expect(syntax.status == 0, "\(script): \(syntax.stderr)")
        }
        let postinst = try String(contentsOfFile: control + "/postinst", encoding: .utf8)
        #expect(postinst.contains("systemctl enable clarity-fleet-agent.timer"))
        #expect(!postinst.contains("enable clarity-fleet.service"))
        let prerm = try String(contentsOfFile: control + "/prerm", encoding: .utf8)
        #expect(prerm.contains("disable clarity-fleet-agent.timer clarity-fleet.service"))
    }

    @Test func theUnitsSayWhatTheyMean() throws {
        let deb = try Self.deb()
        let tree = Self.store + "/tree"
        try? FileManager.default.removeItem(atPath: tree)
        #expect(try Tool.run("/usr/bin/dpkg-deb", ["-x", deb, tree]).status == 0)
        func text(_ path: String) throws -> String { try String(contentsOfFile: tree + path, encoding: .utf8) }

        // The timer: every day at midnight, as systemd itself normalizes it; a missed day
        // caught up at boot; each machine at its own fixed time within the day.
        let timer = try text(Self.unitFolder + "/clarity-fleet-agent.timer")
        let calendar = try #require(Self.values(timer, "Timer", "OnCalendar").first)
        let parsed = try Tool.run("/usr/bin/systemd-analyze", ["calendar", "--iterations=2", calendar])
        #expect(parsed.status == 0, "\(parsed.stderr)")
        #expect(parsed.stdout.contains("Normalized form: *-*-* 00:00:00\n"), "\(parsed.stdout)")
        #expect(Self.values(timer, "Timer", "Persistent") == ["true"])
        // Spread, but a run caught up at boot waits as long (from the boot): at most hours.
        let delay = try #require(Self.values(timer, "Timer", "RandomizedDelaySec").first)
        let span = try Tool.run("/usr/bin/systemd-analyze", ["timespan", delay])
        let micros = span.stdout.firstMatch(of: /μs: ([0-9]+)/).flatMap { Int64($0.1) } ?? 0
        #expect(micros >= 600_000_000 && micros <= 6 * 3_600_000_000, "RandomizedDelaySec=\(delay): \(span.stdout)")
        // Drawn anew each time: a fixed delay longer than a machine is ever up never runs.
        #expect(Self.values(timer, "Timer", "FixedRandomDelay").allSatisfy { $0 == "false" || $0 == "no" })
        #expect(Self.values(timer, "Install", "WantedBy") == ["timers.target"])

        // The agent: only on an enrolled machine; submit, then pull whatever submit did (its
        // "-"), and submit's 3 (kept in the outbox) is no failure.
        let agent = try text(Self.unitFolder + "/clarity-fleet-agent.service")
        #expect(Self.values(agent, "Unit", "ConditionPathExists") == ["/var/lib/clarity-heal/fleet/enrollment.json"])
        #expect(Self.values(agent, "Service", "Type") == ["oneshot"])
        #expect(Self.values(agent, "Service", "ExecStart") == ["-/usr/bin/clarity-fleet submit", "/usr/bin/clarity-fleet pull"])
        #expect(Self.values(agent, "Service", "SuccessExitStatus").flatMap { $0.split(separator: " ") }.contains("3"))
        #expect(Self.values(agent, "Service", "ReadWritePaths").contains { $0.hasSuffix("/var/lib/clarity-heal") })
        #expect(Self.values(agent, "Unit", "Wants").contains("network-online.target"))
        #expect(Self.settings(agent, "Install").isEmpty, "the timer starts it")

        // The drop-in: a pull that can neither fail verify nor hold it up.
        let drop = try text(Self.dropIn)
        let pre = try #require(Self.values(drop, "Service", "ExecStartPre").first)
        #expect(pre.hasPrefix("-/usr/bin/timeout ") && pre.hasSuffix(" /usr/bin/clarity-fleet pull --if-enrolled"), "\(pre)")
        #expect(Self.values(drop, "Service", "TimeoutStartSec").isEmpty, "it would bound verify itself")

        // The service: the default store in its state folder, a user of its own, not enabled.
        let service = try text(Self.unitFolder + "/clarity-fleet.service")
        let start = try #require(Self.values(service, "Service", "ExecStart").first)
        #expect(start.hasPrefix("/usr/bin/clarity-fleet serve ") && start.contains("--enrollment-token-file"), "\(start)")
        #expect(Self.values(service, "Service", "Environment").contains("CLARITY_FLEET_DATABASE=sqlite:/var/lib/clarity-fleet/fleet.db"))
        #expect(Self.values(service, "Service", "DynamicUser") == ["yes"])
        #expect(Self.values(service, "Service", "StateDirectory") == ["clarity-fleet"])
        #expect(Self.values(service, "Service", "LoadCredential") == ["enrollment-token:/etc/clarity-fleet/enrollment-token"])
    }

    // MARK: installed

    @Test func installedTheTimerIsEnabledTheUnitsVerifyAndTheDropInExtendsVerify() throws {
        let copy = try Self.installedCopy()

        // Enabled the way systemctl enables it; the service is left to the site.
        let link = copy.at("/etc/systemd/system/timers.target.wants/clarity-fleet-agent.timer")
        let target = try FileManager.default.destinationOfSymbolicLink(atPath: link)
        #expect(target.hasSuffix("/systemd/system/clarity-fleet-agent.timer"), "\(target)")
        for (unit, state) in [("clarity-fleet-agent.timer", "enabled"), ("clarity-fleet.service", "disabled"),
                              ("clarity-fleet-agent.service", "static"), ("clarity-heal-verify.service", "enabled")] {
            let enabled = try Tool.run("/bin/systemctl", ["--root=" + copy.path, "is-enabled", unit])
            #expect(enabled.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == state, "\(unit): \(enabled)")
        }

        // systemd-analyze reads them in the copy (its /usr/bin/clarity-fleet, its units)
        // without a complaint: an unknown key or a bad value is only a warning there.
        let units = Self.units + ["clarity-heal-verify.service"]
        let verify = try Tool.run("/usr/bin/systemd-analyze", ["verify", "--man=no", "--root=" + copy.path] + units)
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(!verify.stderr.contains("clarity"), "\(verify.stderr)")
        // verify checks only the first ExecStart= and none with "-" or of ExecStartPre=: each
        // program the units and the drop-in run is there.
        for path in Self.units.map({ Self.unitFolder + "/" + $0 }) + [Self.dropIn] {
            let text = try String(contentsOfFile: copy.at(path), encoding: .utf8)
            for line in ["ExecStart", "ExecStartPre"].flatMap({ Self.values(text, "Service", $0) }) {
                for word in line.split(separator: " ").map({ String($0.drop { "-@+!:".contains($0) }) }) where word.hasPrefix("/usr/") {
                    #expect(FileManager.default.isExecutableFile(atPath: copy.at(word)), "\(word) (\(path))")
                }
            }
        }

        // The drop-in is where systemd reads clarity-heal-verify.service's drop-ins.
        let merged = try Tool.run("/usr/bin/systemd-analyze", ["--root=" + copy.path, "cat-config",
                                                                "systemd/system/clarity-heal-verify.service"])
        #expect(merged.status == 0, "\(merged.stderr)")
        let unitAt = try #require(merged.stdout.range(of: "/systemd/system/clarity-heal-verify.service\n"), "\(merged.stdout)")
        let dropInAt = try #require(merged.stdout.range(of: "/systemd/system/clarity-heal-verify.service.d/clarity-fleet.conf\n"),
                                    "\(merged.stdout)")
        #expect(unitAt.lowerBound < dropInAt.lowerBound)
        #expect(merged.stdout[dropInAt.upperBound...].contains("\nExecStartPre=-/usr/bin/timeout "), "\(merged.stdout)")

        // The sandboxes as systemd scores them (0 best, 10 worst): a change that loses one shows.
        for (unit, most) in [("clarity-fleet-agent.service", 3.0), ("clarity-fleet.service", 2.0)] {
            let security = try Tool.run("/usr/bin/systemd-analyze", ["security", "--offline=yes", "--root=" + copy.path, unit])
            let score = security.stdout.firstMatch(of: /Overall exposure level for \S+: ([0-9.]+)/).flatMap { Double($0.1) }
            #expect(score.map { $0 <= most } == true, "\(unit): \(security.stdout.suffix(300))\(security.stderr)")
        }
    }

    // MARK: booted

    /// What the test's unit recorded in a booted copy: `systemctl show` of each unit, and
    /// each unit's journal.
    struct Boot {
        var properties: [String: [String: String]] = [:]
        var logs: [String: String] = [:]
        func property(_ unit: String, _ key: String) -> String { properties[unit]?[key] ?? "" }
        func log(_ unit: String) -> String { logs[unit] ?? "" }
    }

    static let adminToken = "fleet-package-test-admin"
    static let recorded = ["clarity-heal-verify.service", "clarity-fleet-agent.service", "clarity-fleet.service",
                           "clarity-fleet-agent.timer", "clarity-test-enroll.service"]

    /// Test units: one that records what ran and powers off once verify and the agent are
    /// done (verify wants it: a unit multi-user.target wanted would be ordered before verify);
    /// one that enrolls with the service on this machine, before verify and the agent. And
    /// the timer's random delay off: it delays a run caught up at boot too (by up to an hour).
    static func addTestUnits(_ copy: OverlayCopy) throws {
        let timer = copy.at("/etc/systemd/system/clarity-fleet-agent.timer.d")
        try FileManager.default.createDirectory(atPath: timer, withIntermediateDirectories: true)
        try "[Timer]\nRandomizedDelaySec=0\n".write(toFile: timer + "/test.conf", atomically: true, encoding: .utf8)
        let show = "-p ActiveState -p Result -p ExecMainStatus -p ConditionResult -p TimersCalendar -p Persistent"
        let record = recorded.map {
            "echo \"[\($0)]\"; systemctl show \(show) \($0); journalctl -b -o cat -u \($0) >/root/\($0).log"
        }.joined(separator: "; ")
        let done = """
            [Unit]
            Description=test: record what ran, then power off
            After=\(recorded.joined(separator: " "))
            [Service]
            Type=oneshot
            ExecStart=/bin/sh -c '{ \(record); } >/root/units.txt'
            ExecStart=/bin/systemctl --no-block poweroff

            """
        let enroll = """
            [Unit]
            Description=test: enroll with the fleet service on this machine
            Requires=clarity-fleet.service
            After=clarity-fleet.service
            Before=clarity-heal-verify.service clarity-fleet-agent.service
            [Service]
            Type=oneshot
            ExecStart=/bin/sh -c 'for i in $(seq 150); do clarity-fleet enroll --server http://127.0.0.1:8080 --token-file /etc/clarity-fleet/enrollment-token && exit 0; sleep 0.2; done; exit 1'
            ExecStart=/bin/bash /root/dashboard.sh

            """
        // The dashboard asked with the admin token and without: the status line of each answer.
        let dashboard = """
            for auth in "Authorization: Bearer \(adminToken)" "X-Clarity-Test: no token"; do
              exec 3<>/dev/tcp/127.0.0.1/8080
              printf 'GET /dashboard HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n%s\\r\\nConnection: close\\r\\n\\r\\n' "$auth" >&3
              head -n1 <&3
              exec 3<&-
            done >/root/dashboard.txt

            """
        try dashboard.write(toFile: copy.at("/root/dashboard.sh"), atomically: true, encoding: .utf8)
        try done.write(toFile: copy.at("/etc/systemd/system/clarity-test-done.service"), atomically: true, encoding: .utf8)
        try enroll.write(toFile: copy.at("/etc/systemd/system/clarity-test-enroll.service"), atomically: true, encoding: .utf8)
        let wants = copy.at("/etc/systemd/system/clarity-heal-verify.service.wants")
        try FileManager.default.createDirectory(atPath: wants, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: wants + "/clarity-test-done.service",
                                                   withDestinationPath: "/etc/systemd/system/clarity-test-done.service")
    }

    /// The folders of the Swift runtime the debug binary loads (its RUNPATH), bound
    /// read-only into the container at the same place.
    static func runtimeBinds() throws -> [String] {
        let dynamic = try Tool.run("/usr/bin/readelf", ["-d", Tool.clarityFleet])
        let runpath = dynamic.stdout.firstMatch(of: /Library runpath: \[([^\]]*)\]/).map { String($0.1) } ?? ""
        return runpath.split(separator: ":").map(String.init)
            .filter { $0.hasPrefix("/") && FileManager.default.fileExists(atPath: $0) }
            .map { "--bind-ro=" + $0 }
    }

    /// Boots the copy in systemd-nspawn (no network but its own loopback) until the test's
    /// unit powers it off. The timer's last run is set three days back first: the boot
    /// catches up the missed day (Persistent=true).
    static func boot(_ copy: OverlayCopy) throws -> Boot {
        for name in ["units.txt"] + recorded.map({ $0 + ".log" }) { try? FileManager.default.removeItem(atPath: copy.at("/root/" + name)) }
        try FileManager.default.createDirectory(atPath: copy.at("/var/lib/systemd/timers"), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: copy.at(stamp), contents: nil)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3 * 86_400)], ofItemAtPath: copy.at(stamp))

        let run = try Tool.run("/usr/bin/timeout", ["-k", "10", "90", "/usr/bin/systemd-nspawn", "--quiet", "--directory=" + copy.path,
                                                    "--boot", "--register=no", "--keep-unit", "--private-network",
                                                    "--machine=clarity-fleet-test", "--console=pipe"] + (try runtimeBinds()))
        #expect(run.status == 0, "systemd-nspawn: \(run.status)\n\(run.stdout.suffix(3000))\n\(run.stderr.suffix(2000))")
        var boot = Boot()
        let units = (try? String(contentsOfFile: copy.at("/root/units.txt"), encoding: .utf8)) ?? ""
        var unit = ""
        for line in units.split(separator: "\n").map(String.init) {
            if line.hasPrefix("[") { unit = String(line.dropFirst().dropLast()); continue }
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { boot.properties[unit, default: [:]][parts[0]] = parts[1] }
        }
        for unit in recorded {
            boot.logs[unit] = try? String(contentsOfFile: copy.at("/root/\(unit).log"), encoding: .utf8)
        }
        #expect(!boot.properties.isEmpty, "the test unit recorded nothing: \(run.stdout.suffix(3000))")
        // The timer ran the agent in this boot: its stamp is today's.
        let stamped = try FileManager.default.attributesOfItem(atPath: copy.at(stamp))[.modificationDate] as? Date
        #expect(stamped.map { $0.timeIntervalSinceNow > -3600 } == true, "the timer did not run: \(String(describing: stamped))")
        return boot
    }

    @Test func bootedTheTimerRunsTheAgentOnlyOnAnEnrolledMachineAndVerifyPullsFirst() throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-nspawn"), "scripts/setup has not run (systemd-container)")
        let copy = try Self.installedCopy()
        try Self.addTestUnits(copy)
        let agent = "clarity-fleet-agent.service", verify = "clarity-heal-verify.service", service = "clarity-fleet.service"

        // Not enrolled: the timer fires, its condition skips the agent; verify's pull does
        // nothing, says nothing, and verify runs as ever.
        let unenrolled = try Self.boot(copy)
        #expect(unenrolled.property(agent, "ConditionResult") == "no", "\(unenrolled.properties)")
        #expect(unenrolled.log(agent).contains("ConditionPathExists=/var/lib/clarity-heal/fleet/enrollment.json"), "\(unenrolled.log(agent))")
        #expect(!unenrolled.log(agent).contains("queued"), "\(unenrolled.log(agent))")
        #expect(unenrolled.property(verify, "Result") == "success" && unenrolled.property(verify, "ActiveState") == "active",
                "\(unenrolled.properties[verify] ?? [:])")
        #expect(!unenrolled.log(verify).contains("not enrolled"), "\(unenrolled.log(verify))")
        let timer = unenrolled.properties["clarity-fleet-agent.timer"] ?? [:]
        #expect(timer["TimersCalendar"]?.contains("OnCalendar=*-*-* 00:00:00") == true && timer["Persistent"] == "yes", "\(timer)")

        // Enrolled with the service this machine runs (enabled as a site would, its token
        // root's alone): verify pulls before it verifies, and the agent submits and pulls.
        try FileManager.default.createDirectory(atPath: copy.at("/etc/clarity-fleet"), withIntermediateDirectories: true)
        let token = copy.at("/etc/clarity-fleet/enrollment-token")
        FileManager.default.createFile(atPath: token, contents: Data("fleet-package-test-token\n".utf8), attributes: [.posixPermissions: 0o600])
        #expect(try Self.chroot(copy.path, ["systemctl", "enable", service]).status == 0)
        // And the admin token as the unit's comment tells a site to give it.
        FileManager.default.createFile(atPath: copy.at("/etc/clarity-fleet/admin-token"), contents: Data((Self.adminToken + "\n").utf8),
                                       attributes: [.posixPermissions: 0o600])
        let site = copy.at("/etc/systemd/system/clarity-fleet.service.d")
        try FileManager.default.createDirectory(atPath: site, withIntermediateDirectories: true)
        try """
            [Service]
            LoadCredential=admin-token:/etc/clarity-fleet/admin-token
            Environment=CLARITY_FLEET_OPTIONS=--admin-token-file=%d/admin-token

            """.write(toFile: site + "/site.conf", atomically: true, encoding: .utf8)
        let wants = copy.at("/etc/systemd/system/multi-user.target.wants/clarity-test-enroll.service")
        try FileManager.default.createSymbolicLink(atPath: wants, withDestinationPath: "/etc/systemd/system/clarity-test-enroll.service")
        let enrolled = try Self.boot(copy)
        #expect(enrolled.property("clarity-test-enroll.service", "Result") == "success", "\(enrolled.log("clarity-test-enroll.service"))")
        #expect(enrolled.property(service, "ActiveState") == "active", "\(enrolled.log(service))")
        #expect(enrolled.log(service).contains("listening on http://127.0.0.1:8080 (sqlite)"), "\(enrolled.log(service))")
        let answers = (try? String(contentsOfFile: copy.at("/root/dashboard.txt"), encoding: .utf8)) ?? ""
        #expect(answers.components(separatedBy: .newlines).filter { !$0.isEmpty } == ["HTTP/1.1 200 OK", "HTTP/1.1 401 Unauthorized"],
                "\(answers)")
        #expect(enrolled.property(verify, "Result") == "success", "\(enrolled.log(verify))")
        #expect(enrolled.log(verify).contains("insights stored in /var/lib/clarity-heal/insights.json"), "\(enrolled.log(verify))")
        #expect(enrolled.property(agent, "ConditionResult") == "yes" && enrolled.property(agent, "Result") == "success"
                && enrolled.property(agent, "ExecMainStatus") == "0", "\(enrolled.properties[agent] ?? [:])\n\(enrolled.log(agent))")
        let ran = enrolled.log(agent)
        let submitted = ran.range(of: "queued "), pulled = ran.range(of: "insights stored in")
        #expect(submitted != nil && pulled != nil && submitted!.lowerBound < pulled!.lowerBound, "\(ran)")
        // Under its sandbox the agent wrote clarity-heal's state folder; the service's store
        // is its dynamic user's.
        #expect(FileManager.default.fileExists(atPath: copy.at("/var/lib/clarity-heal/insights.json")))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: copy.at("/var/lib/clarity-fleet")) == "private/clarity-fleet")
        let database = try FileManager.default.attributesOfItem(atPath: copy.at("/var/lib/private/clarity-fleet/fleet.db"))
        #expect(((database[.ownerAccountID] as? NSNumber)?.intValue ?? 0) != 0, "\(database)")

        // A submit that fails (here: a ledger it cannot read) is logged, and the pull runs.
        try FileManager.default.removeItem(atPath: wants)
        try FileManager.default.createDirectory(atPath: copy.at("/var/lib/clarity-heal/ledger.jsonl"), withIntermediateDirectories: false)
        let broken = try Self.boot(copy)
        let log = broken.log(agent)
        let failed = log.range(of: "the ledger"), pulledAfter = log.range(of: "insights stored in")
        #expect(failed != nil && pulledAfter != nil && failed!.lowerBound < pulledAfter!.lowerBound, "\(log)")
        #expect(broken.property(agent, "Result") == "success", "\(broken.properties[agent] ?? [:])\n\(log)")
        try FileManager.default.removeItem(atPath: copy.at("/var/lib/clarity-heal/ledger.jsonl"))

        // Purge: the units, the drop-in, their links, and what the agent and the service
        // kept are gone; the site's token and clarity-heal stay.
        let purge = try Self.chroot(copy.path, ["dpkg", "--purge", "clarity-fleet"])
        #expect(purge.status == 0, "\(purge.stdout)\n\(purge.stderr)")
        for path in ["/usr/bin/clarity-fleet", Self.dropIn, "/etc/systemd/system/timers.target.wants/clarity-fleet-agent.timer",
                     "/etc/systemd/system/multi-user.target.wants/clarity-fleet.service", "/var/lib/clarity-heal/fleet",
                     "/var/lib/clarity-heal/insights.json", "/var/lib/clarity-heal/offers", "/var/lib/clarity-fleet", "/var/lib/private/clarity-fleet", Self.stamp]
            + Self.units.map({ Self.unitFolder + "/" + $0 }) {
            var status = stat()
            #expect(lstat(copy.at(path), &status) != 0, "\(path) is still there")
        }
        #expect(FileManager.default.fileExists(atPath: token))
        let heal = try Tool.run("/bin/systemctl", ["--root=" + copy.path, "is-enabled", verify])
        #expect(heal.stdout == "enabled\n", "\(heal)")
    }
}
