/// The use cases: one function per operation a person or a schedule asks for, each taking
/// the lock its operation needs and writing its audit record, so the command line, the drill
/// runner and the replication daemon (`replicate`) all do it the same way. The floors below know
/// nothing of locks-around-work or audit-around-work; the command line knows nothing else.
///
/// One file per use case extends this namespace.
package enum UseCase {}
