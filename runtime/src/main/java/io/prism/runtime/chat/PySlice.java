package io.prism.runtime.chat;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.Filter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * Filter {@code py_slice(start, stop, step)}: Python's {@code value[start:stop:step]} on a list
 * (or any collection, or array) or a string; {@code none} for an omitted bound. {@link JinjaSource}
 * rewrites slice syntax into it. Semantics as Python's {@code slice.indices}: negative bounds count
 * from the end, bounds are clamped, a negative step walks backwards; step 0 is an error.
 * Stateless.
 */
final class PySlice implements Filter {
  @Override
  public String getName() {
    return "py_slice";
  }

  @Override
  public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
    return filter(var, interpreter, (Object[]) args, Map.of());
  }

  @Override
  public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
    Integer start = bound(args, 0), stop = bound(args, 1), step = bound(args, 2);
    if (var == null) throw new IllegalArgumentException("cannot slice None");
    if (var instanceof CharSequence cs) {
      String s = cs.toString();
      StringBuilder sb = new StringBuilder();
      for (int i : indices(s.length(), start, stop, step)) sb.append(s.charAt(i));
      return sb.toString();
    }
    List<?> list = var instanceof List<?> l ? l : var instanceof Collection<?> c ? new ArrayList<>(c) : var instanceof Object[] a ? Arrays.asList(a) : null;
    if (list == null) throw new IllegalArgumentException("cannot slice " + var.getClass().getSimpleName());
    List<Object> out = new ArrayList<>();
    for (int i : indices(list.size(), start, stop, step)) out.add(list.get(i));
    return out;
  }

  private static Integer bound(Object[] args, int k) {
    if (args == null || k >= args.length || args[k] == null) return null;
    Object a = args[k];
    if (a instanceof Number n) return n.intValue();
    String s = a.toString().trim();
    if (s.isEmpty() || s.equalsIgnoreCase("none")) return null;
    return Integer.parseInt(s);
  }

  /** The indices {@code range(*slice(start, stop, step).indices(length))} of Python. */
  static int[] indices(int length, Integer start, Integer stop, Integer step) {
    int st = step == null ? 1 : step;
    if (st == 0) throw new IllegalArgumentException("slice step cannot be zero");
    int lo, hi;
    if (st > 0) {
      lo = start == null ? 0 : clamp(start < 0 ? start + length : start, 0, length);
      hi = stop == null ? length : clamp(stop < 0 ? stop + length : stop, 0, length);
    } else {
      lo = start == null ? length - 1 : clamp(start < 0 ? start + length : start, -1, length - 1);
      hi = stop == null ? -1 : clamp(stop < 0 ? stop + length : stop, -1, length - 1);
    }
    int n = st > 0 ? Math.max(0, (hi - lo + st - 1) / st) : Math.max(0, (lo - hi - st - 1) / -st);
    int[] out = new int[n];
    for (int k = 0; k < n; k++) out[k] = lo + k * st;
    return out;
  }

  private static int clamp(int v, int lo, int hi) {
    return Math.max(lo, Math.min(hi, v));
  }
}
