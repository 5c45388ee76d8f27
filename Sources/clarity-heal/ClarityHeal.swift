import ArgumentParser

@main
struct ClarityHeal: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clarity-heal",
        abstract: "Detect, diagnose and repair Linux boot failures.",
        subcommands: []
    )
}
