import ArgumentParser
import FleetAgent
import FleetProtocol
import FleetServer
import Foundation
import HealCore
import HealSystem
import Hummingbird
import Logging

/// `clarity-fleet`: the fleet service (`serve`) and the machine's agent for it (`enroll`,
/// `submit`, `pull`). A product of its own: the boot binary never links any of it.
@main
struct ClarityFleet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clarity-fleet",
        abstract: "Learn across a fleet which repair works for which failure (docs/fleet.md).",
        version: Product.version,
        subcommands: [Serve.self, Enroll.self, Submit.self, Pull.self, Publish.self, Adopt.self, Rollout.self, Load.self]
    )
}

/// The machine's root for the agent commands, and its `[Fleet]` settings.
struct AgentOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The machine's root (its state folder and config are read there).", valueName: "dir"))
    var root: String = "/"

    @Flag(help: "Print the result as JSON.")
    var json = false

    func agent() throws -> FleetAgent {
        var logger = Logger(label: "clarity-fleet")
        logger.logLevel = .notice
        return FleetAgent(root: try SystemRoot(root), logger: logger, server: try settings().server)
    }

    func settings() throws -> FleetSettings {
        Config.load(root: try SystemRoot(root)).config.fleet
    }

    func print<T: Encodable>(_ value: T, text: String) throws {
        try printDocument(value, json: json, text: text)
    }
}

/// `value` as indented JSON with `--json`, else `text`.
func printDocument<T: Encodable>(_ value: T, json: Bool, text: String) throws {
    if json {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    } else {
        print(text)
    }
}

func readToken(_ path: String) throws -> String {
    guard let data = FileManager.default.contents(atPath: path), data.count <= 4096 else {
        throw ValidationError("cannot read the enrollment token from \(path)")
    }
    let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    guard token.count >= 16 else { throw ValidationError("the enrollment token in \(path) is shorter than 16 characters") }
    return token
}

extension ClarityFleet {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the fleet service.",
            discussion: """
                --database is sqlite:PATH (the default: one file, no server of its own) or
                postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE (add ?host=/run/postgresql for
                the Unix socket). The schema is migrated on start. Prints "listening on URL"
                once it accepts connections; SIGTERM stops it after the requests in flight.
                """
        )

        @Option(help: "Where the fleet's records are kept.")
        var database = "sqlite:/var/lib/clarity-fleet/fleet.db"

        @Option(help: "Address and port to listen on (port 0: any free port).")
        var listen = "127.0.0.1:8080"

        @Option(help: "A rollout stops once more than this share of the fixes made from it failed.")
        var rolloutMaximumFailureRate = RolloutPolicy().maximumFailureRate

        @Option(help: "…counting only once at least this many fixes made from it came to an outcome.")
        var rolloutMinimumOutcomes = RolloutPolicy().minimumOutcomes

        @Option(help: ArgumentHelp("File holding the token machines enroll with.", valueName: "file"))
        var enrollmentTokenFile: String

        @Option(help: ArgumentHelp("File holding the token the dashboard and the exports ask for (HTTP Basic password or Bearer); without it they are off.", valueName: "file"))
        var adminTokenFile: String?

        func run() async throws {
            let token = try readToken(enrollmentTokenFile)
            let parts = listen.split(separator: ":")
            guard parts.count == 2, let port = Int(parts[1]) else { throw ValidationError("--listen takes HOST:PORT") }
            var logger = Logger(label: "clarity-fleet")
            logger.logLevel = .notice
            let db: any FleetDatabase
            if database.hasPrefix("sqlite:") {
                let path = String(database.dropFirst("sqlite:".count))
                try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                db = try await SQLiteFleetDatabase.open(path: path)
            } else if database.hasPrefix("postgres") {
                db = try PostgresFleetDatabase(url: database, logger: logger)
            } else {
                throw ValidationError("--database takes sqlite:PATH or postgresql://…")
            }
            let policy = RolloutPolicy(maximumFailureRate: max(0, min(1, rolloutMaximumFailureRate)),
                                       minimumOutcomes: max(1, rolloutMinimumOutcomes))
            let service = try await FleetService(store: FleetStore(database: db, rolloutPolicy: policy), enrollmentToken: token,
                                                 adminToken: try adminTokenFile.map(readToken), logger: logger)
            let app = Application(router: service.router(), configuration: .init(address: .hostname(String(parts[0]), port: port)),
                                  onServerRunning: { channel in
                                      Swift.print("listening on http://\(parts[0]):\(channel.localAddress?.port ?? port) (\(db.engine))")
                                      fflush(nil)
                                  }, logger: logger)
            try await app.runService()
            await db.close()
        }
    }

    struct Enroll: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enroll this machine with a fleet service.")

        @OptionGroup var options: AgentOptions
        @Option(help: "The service's base URL (default: [Fleet] Server= of the config).") var server: String?
        @Option(help: ArgumentHelp("File holding the enrollment token.", valueName: "file")) var tokenFile: String

        func run() async throws {
            let configured = try options.settings().server
            guard let url = server ?? (configured.isEmpty ? nil : configured), !url.isEmpty else {
                throw ValidationError("--server is needed: [Fleet] Server= of the config is not set")
            }
            let enrollment = try await options.agent().enroll(server: url, token: try readToken(tokenFile))
            try options.print(enrollment, text: "enrolled as \(enrollment.machine) with \(enrollment.server)")
        }
    }

    struct Submit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Queue the ledger's new outcomes, anonymized, and send the outbox.",
            discussion: "Exits 0 when the outbox is empty afterwards, 3 when batches stay in it (the service is unreachable), 4 when the service refused one."
        )

        @OptionGroup var options: AgentOptions

        func run() async throws {
            let agent = try options.agent()
            let queued = try agent.queue()
            let report = try await agent.send()
            try options.print(report, text: "queued \(queued) outcomes; sent \(report.sent) batches (\(report.outcomes) outcomes stored), "
                + "\(report.duplicates) already stored, \(report.kept) kept for later, \(report.refused.count) refused"
                + report.refused.map { "\n  refused \($0)" }.joined())
            if !report.refused.isEmpty { throw ExitCode(4) }
            if report.kept > 0 { throw ExitCode(3) }
        }
    }

    struct Pull: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch the fleet's insights for this machine's profile and keep those that pass [Fleet] MinConfidence and MaxAgeDays.",
            discussion: "Also keeps the rollouts offered to this machine (clarity-fleet adopt). Exits 0 when pulled, 3 when the service cannot be reached (what was pulled before stays in use)."
        )

        @OptionGroup var options: AgentOptions

        @Flag(help: "On a machine that is not enrolled, do nothing and exit 0 (verify's pull before every boot's verification).")
        var ifEnrolled = false

        struct Pulled: Encodable {
            var insights: [FleetInsight]
            var offers: [RolloutStanding]
        }

        func run() async throws {
            let agent = try options.agent()
            if ifEnrolled, (try? agent.enrollment()) == nil { return }
            let insights: [FleetInsight], offers: [RolloutStanding]
            do {
                insights = try await agent.pull(settings: try options.settings())
                offers = try await agent.pullOffers()
            } catch FleetAgent.Failure.unreachable(let why) {
                // As submit: the service is away today; what was pulled before stays in use.
                FileHandle.standardError.write(Data("clarity-fleet: the service cannot be reached: \(why)\n".utf8))
                throw ExitCode(3)
            }
            try options.print(Pulled(insights: insights, offers: offers),
                              text: "\(insights.count) insights stored in \(FleetInsights.relativePath); \(offers.count) rollouts offered"
                                + offers.map { "\n  \($0.rollout): \($0.signature) by \($0.strategy) (verified \($0.verified), failed \($0.failed))" }.joined())
        }
    }

    struct Publish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish a fix that held on this machine to the machines of its profile.",
            discussion: """
                FIX must have been applied here and verified good after its reboot. What is sent:
                the paths it changed, their new contents, and what stood at each before (from
                apply's backup); no findings, logs or names. The service signs the package with
                the fleet key and offers it until the fixes made from it fail too often.
                """
        )

        @OptionGroup var options: AgentOptions
        @Argument(help: "The fix id (as `clarity-heal history` lists it).") var fix: String

        func run() async throws {
            let published = try await options.agent().publish(fix: fix)
            try options.print(published, text: "\(published.fix) \(published.status) as rollout \(published.rollout) (\(published.paths) paths)")
        }
    }

    struct Adopt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revalidate a fix package the fleet offers on a clone of this machine, and write it as a local fix package.",
            discussion: """
                The package's fleet signature is checked again, its profile must be this
                machine's and every path it changes must be here as it was on the machine that
                made it; then it runs on a clone like any strategy and is validated there.
                Without ROLLOUT every kept offer is tried until one validates. Nothing is
                applied: apply the fix package with `clarity-heal apply`. Exits 0 when nothing
                here needs an offered package, 1 when a fix package was written, 4 when none
                validated, 5 when a package was refused (unsigned, altered, another profile).
                """
        )

        @OptionGroup var options: AgentOptions
        @Argument(help: "The rollout (as `clarity-fleet pull` lists it).") var rollout: String?
        @Option(help: "Where to try it: auto, overlay or copy.") var environment = "auto"
        @Option(help: ArgumentHelp("Where to write the fix package.", valueName: "dir")) var out = "/var/lib/clarity-heal/fixes"
        @Option(help: ArgumentHelp("Scratch space for the clone.", valueName: "dir")) var scratch = "/var/tmp/clarity-heal"
        @Option(help: ArgumentHelp("A block device the root's fstab names (repeatable).", valueName: "path")) var device: [String] = []

        struct Adopted: Encodable {
            var rollout: String?
            var result: RepairPipeline.Result?
            var refused: [String]
        }

        func run() async throws {
            guard let choice = RepairPipeline.EnvironmentChoice(rawValue: environment), choice != .microvm else {
                throw ValidationError("--environment takes auto, overlay or copy")
            }
            let agent = try options.agent()
            let root = try SystemRoot(options.root)
            let config = Config.load(root: root).config
            var request = RepairPipeline.Request(root: root, devices: device, thresholds: config.thresholds, environment: choice,
                                                 microVM: config.microVM, scratch: scratch, out: .folder(out))
            request.fleet = config.fleet
            var adopted = Adopted(rollout: nil, result: nil, refused: [])
            let rollouts = try rollout.map { [$0] } ?? agent.keptOffers()
            for rollout in rollouts {
                let result: RepairPipeline.Result
                do {
                    result = try agent.adopt(rollout: rollout, request: request)
                } catch let refusal as FleetAgent.Refusal {
                    adopted.refused.append("\(rollout): \(refusal)")
                    continue
                }
                agent.record(result, rollout: rollout)
                if result.status != .healthy || adopted.result == nil { (adopted.rollout, adopted.result) = (rollout, result) }
                if result.status == .validated { break }
            }
            let text: String
            switch adopted.result?.status {
            case .validated?: text = "rollout \(adopted.rollout ?? "") validated on this machine's clone: fix package \(adopted.result?.fixPackage ?? "")\napply it with: clarity-heal apply \(adopted.result?.fixPackage ?? "")"
            case .unrepairable?: text = "rollout \(adopted.rollout ?? "") did not validate here: " + (adopted.result?.attempts.last?.notes.joined(separator: "; ") ?? "")
            case .healthy?, nil: text = "no offered package is for a failure found here"
            }
            try options.print(adopted, text: text + adopted.refused.map { "\nrefused \($0)" }.joined())
            switch adopted.result?.status {
            case .validated?: throw ExitCode(1)
            case .unrepairable?: throw ExitCode(4)
            default: if !adopted.refused.isEmpty { throw ExitCode(5) }
            }
        }
    }

    struct Rollout: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List, approve or stop the rollouts of a fleet service (with its admin token).",
            discussion: """
                A published package is pending: no machine is offered it until an administrator
                approves it. A rollout stops by itself when the fixes made from it fail too
                often; stop ends one by hand.
                """,
            subcommands: [List.self, Approve.self, Stop.self]
        )

        struct AdminOptions: ParsableArguments {
            @Option(help: "The service's base URL.") var server: String
            @Option(help: ArgumentHelp("File holding the service's admin token.", valueName: "file")) var adminTokenFile: String
            @Flag(help: "Print the result as JSON.") var json = false

            func admin() throws -> FleetAdmin { FleetAdmin(server: server, token: try readToken(adminTokenFile)) }

            /// Approves or stops `rollout` and prints how it stands afterwards.
            func decide(_ decision: String, _ rollout: String) async throws {
                let standing = try await admin().decide(decision, rollout: rollout)
                try printDocument(standing, json: json, text: Rollout.line(standing))
            }
        }

        static func line(_ item: RolloutStanding) -> String {
            "\(item.rollout)  \(item.state)  \(item.signature) by \(item.strategy) on \(item.profile): verified \(item.verified), failed \(item.failed)"
                + (item.stopReason.map { " (\($0))" } ?? "")
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List every rollout with its state and outcomes.")
            @OptionGroup var options: AdminOptions

            func run() async throws {
                let rollouts = try await options.admin().rollouts()
                try printDocument(rollouts, json: options.json, text: rollouts.isEmpty ? "no rollouts" : rollouts.map(Rollout.line).joined(separator: "\n"))
            }
        }

        struct Approve: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Approve a pending rollout: it is offered to the machines of its profile from now on.")
            @OptionGroup var options: AdminOptions
            @Argument(help: "The rollout.") var rollout: String

            func run() async throws { try await options.decide("approve", rollout) }
        }

        struct Stop: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Stop a rollout: it is no longer offered, and machines drop their copy at their next pull.")
            @OptionGroup var options: AdminOptions
            @Argument(help: "The rollout.") var rollout: String

            func run() async throws { try await options.decide("stop", rollout) }
        }
    }

    struct Load: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a load of signed submissions from synthetic machines, and report throughput and latency.",
            discussion: "The same --seed sends the same submissions again: what the service already stored is answered 'duplicate'."
        )

        @Option(help: "The service's base URL.") var server: String
        @Option(help: ArgumentHelp("File holding the enrollment token.", valueName: "file")) var tokenFile: String
        @Option(help: "Synthetic machines.") var machines = 20
        @Option(help: "Submissions in all.") var submissions = 1000
        @Option(help: "Outcomes per submission.") var outcomes = 5
        @Option(help: "Requests in flight.") var concurrency = 8
        @Option(help: "Seed of identities and ids.") var seed = "load"
        @Option(help: "GET /v1/insights requests to time after the load.") var insightQueries = 0
        @Option(help: ArgumentHelp("Write the acknowledged submission ids here, one per line.", valueName: "file"))
        var acknowledged: String?
        @Flag(help: "Print the report as JSON.") var json = false

        func run() async throws {
            var load = FleetLoad(server: server, token: try readToken(tokenFile))
            load.machines = max(1, machines)
            load.submissions = max(0, submissions)
            load.outcomesPerSubmission = max(1, min(Submission.maximumOutcomes, outcomes))
            load.concurrency = max(1, concurrency)
            load.seed = seed
            load.insightQueries = max(0, insightQueries)
            let report = try await load.run()
            if let acknowledged {
                try report.acknowledged.joined(separator: "\n").appending("\n").write(toFile: acknowledged, atomically: true, encoding: .utf8)
            }
            var shown = report
            shown.acknowledged = []
            try printDocument(shown, json: json,
                              text: "\(report.submissions) submissions in \(report.seconds) s: \(report.stored) stored, \(report.duplicates) duplicate, "
                                  + "\(report.refused) refused, \(report.unanswered) unanswered; \(Int(report.perSecond))/s, "
                                  + "p50 \(report.p50Milliseconds) ms, p99 \(report.p99Milliseconds) ms")
        }
    }
}
