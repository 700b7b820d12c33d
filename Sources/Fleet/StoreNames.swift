import Store

/// The store's webhook notification, named apart from Foundation's type of the same name.
public typealias StoreNotification = Notification
