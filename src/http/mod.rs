// placeholder: replaced by the real server on merge

use crate::config::Config;

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ServeError(String);

/// Serves SCIM on `config.server.listen` until shut down.
pub async fn serve(config: Config) -> Result<(), ServeError> {
    let _ = config;
    Ok(())
}
