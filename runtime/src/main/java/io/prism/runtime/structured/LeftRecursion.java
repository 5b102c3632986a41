package io.prism.runtime.structured;

import io.prism.runtime.structured.GrammarNode.Ref;
import io.prism.runtime.structured.GrammarNode.Repeat;
import io.prism.runtime.structured.GrammarNode.Seq;
import io.prism.runtime.structured.GrammarNode.Union;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;

/**
 * Refuses grammars where a node can reach itself without consuming a byte ({@code {"$ref": "#"}}
 * at the root, {@code anyOf} containing a reference to itself): {@link Frames#start} would recurse
 * forever on them. Recursion through an object or array (which consume a bracket first) is fine.
 */
final class LeftRecursion {
  private LeftRecursion() {}

  /** @throws SchemaException naming {@code $ref} when {@code root} starts with itself */
  static void check(GrammarNode root) {
    visit(root, Collections.newSetFromMap(new IdentityHashMap<>()));
  }

  private static void visit(GrammarNode n, Set<GrammarNode> onPath) {
    if (!onPath.add(n)) {
      throw new SchemaException("$ref", n instanceof Ref r ? r.pointer : "#", "a schema refers to itself before any input (left recursion)");
    }
    if (n instanceof Union u) for (GrammarNode o : u.options) visit(o, onPath);
    else if (n instanceof Ref r && r.target != null) visit(r.target, onPath);
    else if (n instanceof Seq q) visit(q.parts().get(0), onPath);
    else if (n instanceof Repeat p) visit(p.item(), onPath);
    onPath.remove(n);
  }
}
