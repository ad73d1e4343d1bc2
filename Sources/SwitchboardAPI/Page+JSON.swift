import SwitchboardCore
import SwitchboardJSON

/// A list answer: `{"items": [...], "next_cursor"?: "..."}` (`next_cursor` on paged lists only,
/// null on the last page).
public enum ItemsPage {
    /// Writes the page; `nextCursor` is `.none` for an unpaged list, `.some(nil)` for the last page.
    public static func write<Item>(
        _ items: some Sequence<Item>, nextCursor: String?? = .none, to w: inout JSONWriter, _ writeItem: (inout JSONWriter, Item) -> Void
    ) {
        w.beginObject()
        w.key("items")
        w.beginArray()
        for item in items { writeItem(&w, item) }
        w.endArray()
        if case .some(let cursor) = nextCursor {
            w.key("next_cursor"); w.string(cursor)
        }
        w.endObject()
    }

    /// The items, each read by `read` from its first byte, and the next cursor.
    public static func read<Item>(
        _ bytes: [UInt8], _ read: (inout JSONPullReader) throws(JSONError) -> Item
    ) throws(JSONError) -> Page<Item> {
        var reader = JSONPullReader(bytes)
        var items: [Item] = []
        var cursor: String?
        try reader.beginObject()
        while let key = try reader.nextKey() {
            if reader.key(key, is: "items"), !reader.isNull {
                try reader.beginArray()
                while try reader.nextElement() { items.append(try read(&reader)) }
            } else if reader.key(key, is: "next_cursor") {
                cursor = try reader.string()
            } else {
                try reader.skipValue()
            }
        }
        try reader.end()
        return Page(items: items, nextCursor: cursor)
    }
}
