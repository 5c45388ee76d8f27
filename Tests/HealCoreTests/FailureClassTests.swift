import Testing
@testable import HealCore

@Test func everyClassHasAStableSlugAndComponent() {
    #expect(FailureClass.allCases.count == 18)
    #expect(FailureClass(rawValue: "kernel-panic") == .kernelPanic)
    #expect(FailureClass.fstabInvalidEntry.component == .fileSystem)
}
