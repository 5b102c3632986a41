/**
 * File-format basics shared by the model loaders ({@code io.prism.runtime.model}) and the
 * tokenizers ({@code io.prism.runtime.tokenizer}): a minimal JSON reader and the exception for an
 * unusable model or tokenizer file. Depends on no other Prism package, so both can use it without
 * depending on each other.
 */
package io.prism.runtime.format;
