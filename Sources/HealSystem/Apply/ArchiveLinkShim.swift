import CArchive

/// libarchive's tar writers call `__archive_write_entry_filetype_unsupported` for a member
/// type they cannot store; it lives in `archive_write_set_format.o`, whose format table
/// also pulls in the xar writer and with it libxml2, which the static link leaves out
/// (Package.swift). Defining it here keeps that object out of the link. Apply never
/// stores devices, sockets or pipes (the backup refuses them first), so only the return
/// code of the caller (ARCHIVE_FAILED) matters; the message libarchive would set is lost.
@_cdecl("__archive_write_entry_filetype_unsupported")
func archiveWriteEntryFiletypeUnsupported(_ archive: OpaquePointer?, _ entry: OpaquePointer?,
                                          _ format: UnsafePointer<CChar>?) {}
