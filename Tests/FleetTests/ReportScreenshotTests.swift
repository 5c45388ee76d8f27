import Foundation
import HealCore
import HealSystem
import Testing
import TestSupport

/// The reports a service provider lives on (issue 12), rendered by headless Chromium: the
/// fleet dashboard served by `clarity-fleet serve`, and `clarity-heal report FIX --format
/// html` of a real repair applied to a copy of the Debian root. The screenshots are kept in
/// `.cache/screenshots/` for a person to look at.
@Suite(.serialized)
struct ReportScreenshotTests {
    static let folder = TestRoot.repository + "/.cache/screenshots"

    /// `chromium --headless --screenshot` of `url`; returns the PNG's width and height.
    static func screenshot(_ url: String, to name: String, height: Int = 1800) throws -> (width: Int, height: Int, bytes: Int) {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = folder + "/" + name
        try? FileManager.default.removeItem(atPath: path)
        let profile = try TemporaryDirectory(prefix: "chromium")
        let result = try Tool.run("/usr/bin/chromium", ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                                       "--user-data-dir=\(profile.path)", "--window-size=1280,\(height)",
                                                       "--screenshot=\(path)", url])
        let png = try Data(contentsOf: URL(fileURLWithPath: path))
        try #require(png.count > 24 && png.prefix(8) == Data([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), "\(result.stderr)")
        func big(_ offset: Int) -> Int { png[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) } }
        return (big(16), big(20), png.count)
    }

    /// What Chromium made of the page, after parsing (`--dump-dom`).
    static func dom(_ url: String) throws -> String {
        let profile = try TemporaryDirectory(prefix: "chromium")
        return try Tool.run("/usr/bin/chromium", ["--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(profile.path)",
                                                 "--dump-dom", url]).stdout
    }

    @Test func theDashboardShowsRepairsRatesAndMachinesThatNeedAPerson() throws {
        let backend = try FleetLearningTests.Backend("sqlite")
        // Real machines: two whose first fix failed and second held, one that gave up.
        for number in 1...2 {
            let machine = try FleetMachine(number: number)
            try machine.enroll(backend.service, tokenFile: backend.tokenFile)
            try machine.recordEpisode(signature: "fstab-unresolvable-source", first: "fstab-repoint-source", second: "fstab-add-nofail", episode: 1)
            #expect(try machine.fleet(["submit"]).status == 0)
        }
        let stuck = try FleetMachine(number: 3)
        try stuck.enroll(backend.service, tokenFile: backend.tokenFile)
        let ledger = Ledger(root: try SystemRoot(stuck.path))
        try ledger.append(LedgerRecord(kind: .repair, fix: "fix-s", class: "initramfs-corrupt", strategy: "initramfs-rebuild", outcome: .validated,
                                       detail: ["tried": "initramfs-rebuild"]))
        try ledger.append(LedgerRecord(kind: .verification, fix: "fix-s", class: "initramfs-corrupt", strategy: "initramfs-rebuild", outcome: .failed))
        try ledger.append(LedgerRecord(kind: .giveUp, fix: "fix-s", class: "initramfs-corrupt", strategy: "initramfs-rebuild", outcome: .needsPerson))
        #expect(try stuck.fleet(["submit"]).status == 0)
        // And a month of synthetic load, for the plot over time.
        let load = try Tool.run(Tool.clarityFleet, ["load", "--server", backend.service.url, "--token-file", backend.tokenFile,
                                                   "--submissions", "600", "--outcomes", "3", "--seed", "dashboard"])
        #expect(load.status == 0, "\(load.stderr)")
        let machine = try #require(try backend.query("SELECT DISTINCT machine FROM outcomes WHERE result = 'gave-up' AND signature = 'initramfs-corrupt'")
            .split(separator: "\n").first.map(String.init))

        // Without the admin token there is nothing to see; a browser is asked for it.
        let anonymous = try Tool.run("/usr/bin/curl", ["-s", "-D", "-", "-o", "/dev/null", backend.service.url + "/dashboard"]).stdout
        #expect(anonymous.hasPrefix("HTTP/1.1 401") && anonymous.lowercased().contains("www-authenticate: basic"), "\(anonymous)")
        for export in ["/v1/export.csv", "/v1/export.json"] {
            let refused = try Tool.run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer wrong-token-0123456789",
                                                         backend.service.url + export]).stdout
            #expect(refused == "401", "\(export)")
        }
        let url = backend.service.dashboardURL()
        let page = try Self.dom(url)
        #expect(page.contains("Repairs over time") && page.contains("Success rate per failure class") && page.contains("Success rate per strategy"))
        #expect(page.components(separatedBy: "<svg").count - 1 == 3, "three plots")
        #expect(page.contains("<rect"), "the plots have bars")
        #expect(page.contains("fstab-repoint-source") && page.contains("fstab-add-nofail"))
        #expect(page.contains("Machines that need a person") && page.contains(machine))
        #expect(!page.contains("<script"))
        let shot = try Self.screenshot(url, to: "dashboard.png")
        #expect(shot.width == 1280 && shot.height == 1800 && shot.bytes > 30_000, "\(shot)")

        // The exports: CSV with a header and one row per signature, strategy and profile; JSON.
        let csv = try Tool.run("/usr/bin/curl", ["-sf"] + RunningFleetService.adminHeader + [backend.service.url + "/v1/export.csv"]).stdout
        let lines = csv.split(separator: "\r\n")
        #expect(lines.first == "signature,strategy,profile,successes,failures,rate,confidence")
        #expect(lines.contains { $0.hasPrefix("\"fstab-unresolvable-source\",\"fstab-add-nofail\",\"debian-12 6.1 grub initramfs-tools\",2,0,") },
                "\(csv.prefix(600))")
        struct Export: Decodable { var machines: Int; var outcomes: Int; var needsPerson: [[String: String]] }
        let json = try JSONDecoder().decode(Export.self, from: Data(Tool.run("/usr/bin/curl", ["-sf"] + RunningFleetService.adminHeader + [backend.service.url + "/v1/export.json"]).stdout.utf8))
        #expect(json.machines == 23 && json.needsPerson.contains { $0["machine"] == machine })
        #expect("\(json.outcomes)" == (try backend.query("SELECT COUNT(*) FROM outcomes")))
    }

    /// A real repair of a copy of the Debian root (a data disk that is gone), applied by
    /// `clarity-heal apply`: its report as one HTML page, rendered and printed to PDF by
    /// Chromium with nothing fetched from anywhere.
    @Test func theHTMLReportOfARealRepairIsOneSelfContainedPage() throws {
        let copy = try TestRoot.writableCopy()
        let fstab = try String(contentsOfFile: copy.at("/etc/fstab"), encoding: .utf8)
        try FileManager.default.removeItem(atPath: copy.at("/etc/fstab"))
        try (fstab + "UUID=0b2c6a6e-0000-4000-8000-00000000dead /srv ext4 defaults 0 2\n").write(toFile: copy.at("/etc/fstab"), atomically: false, encoding: .utf8)
        let out = try TemporaryDirectory(prefix: "fixes"), scratch = try TemporaryDirectory(prefix: "scratch")
        let repair = try Tool.run(Tool.clarityHeal, ["repair", "--root", copy.path, "--device", TestRoot.image, "--out", out.path,
                                                    "--scratch", scratch.path, "--json"])
        struct Repaired: Decodable { var fixPackage: String? }
        let package = try #require(try JSONDecoder().decode(Repaired.self, from: Data(repair.stdout.utf8)).fixPackage, "\(repair.stderr)")
        let apply = try Tool.run(Tool.clarityHeal, ["apply", package, "--root", copy.path])
        #expect(apply.status == 0, "\(apply.stdout)\(apply.stderr)")
        let fix = (package as NSString).lastPathComponent

        let report = try Tool.run(Tool.clarityHeal, ["report", fix, "--root", copy.path, "--format", "html"])
        #expect(report.status == 0, "\(report.stderr)")
        let html = report.stdout
        for section in ["Timeline", "Detection: evidence", "Diagnosis", "Attempts", "Validation checks", "Apply and backup", "Reboot and verification"] {
            #expect(html.contains("<h2>\(section)</h2>"), "\(section)")
        }
        #expect(html.contains(fix) && html.contains("fstab-unresolvable-source"))
        #expect(html.contains("apply") && html.contains("SHA-256"))
        // Self-contained: nothing to fetch, nothing to run.
        #expect(!html.contains("<script") && !html.contains("<link") && !html.contains("src=") && !html.contains("http"))

        let scratchPage = try TemporaryDirectory(prefix: "report")
        let file = try scratchPage.write("report.html", html)
        let shot = try Self.screenshot("file://" + file, to: "report.png", height: 2000)
        #expect(shot.width == 1280 && shot.bytes > 30_000, "\(shot)")
        // Printable: Chromium prints it to a PDF.
        let profile = try TemporaryDirectory(prefix: "chromium")
        let pdf = Self.folder + "/report.pdf"
        _ = try Tool.run("/usr/bin/chromium", ["--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(profile.path)",
                                              "--print-to-pdf=\(pdf)", "--no-pdf-header-footer", "file://" + file])
        let printed = try Data(contentsOf: URL(fileURLWithPath: pdf))
        #expect(printed.prefix(5) == Data("%PDF-".utf8) && printed.count > 10_000)
    }
}
